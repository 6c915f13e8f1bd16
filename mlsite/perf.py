"""The performance layer's switches: each framework override on the hot path has a name
here, and `MLSITE_PERF_OFF` (comma-separated names, empty by default) switches it back to
the library's own behaviour, so `make bench BENCH_ARGS=--overrides` can measure each one
alone against the code without it (bench/overrides_bench.py, bench/RESULTS.md).

Read once, when a process starts: every override tests a module constant set from `on()`
at import, so the switch costs nothing per request. Nothing here imports Django.

Four more were tried and removed on 2026-12-07 (bench/RESULTS.md "Overrides on trial"):
the per-process CSP header, lazy message storage, the content-negotiation shortcut and the
sorting of the API's routes paid nothing measurable alone; the libraries' own code runs.
"""

import os

OVERRIDES = {
    # name: what it overrides, and what switching it off restores
    "redis_throttle": "predictor.api.throttling: one Redis pipeline (off: cache.add + incr)",
    "orjson_parse": "predictor.api.parsers: orjson reads the body (off: the standard library)",
    "orjson_render": "predictor.api.renderers: orjson writes the answer (off: DRF's renderer)",
    "log_prepared": "predictor.services.log.writer: prepared INSERT (off: Django's cursor)",
    "linger": "mlsite.gunicorn_worker: a thread stays on its connection (off: gthread's loop)",
    "gc_freeze": "mlsite.gunicorn_conf: gc.freeze() after start (off: no freeze)",
}

ENV = "MLSITE_PERF_OFF"


def off_names(value: str | None = None) -> frozenset[str]:
    """The names switched off (in `value`, else in the environment); an unknown name is an
    error, so a typo in a benchmark's flag does not measure the baseline twice."""
    raw = os.environ.get(ENV, "") if value is None else value
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = names - OVERRIDES.keys()
    if unknown:
        raise ValueError(f"{ENV}: unknown override(s) {', '.join(sorted(unknown))}")
    return names


def on(name: str) -> bool:
    """Whether the override `name` is in force in this process."""
    if name not in OVERRIDES:
        raise KeyError(name)
    return name not in off_names()
