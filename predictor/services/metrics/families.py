"""The Prometheus families the service exports, made once per process on first use.

Under gunicorn, `mlsite/gunicorn_conf.py` sets `PROMETHEUS_MULTIPROC_DIR` before any worker
imports prometheus_client: every worker then writes its figures to files there, and a scrape
answered by any worker adds up the files of all of them (counters and histograms summed,
per-process gauges one sample per live pid). Without it (runserver, tests, commands) the
figures live in an ordinary registry of this process.

State: the families are made on first use and kept for the life of the process; nothing
invalidates them. `reset()` starts over (tests, single-process mode only).
"""

import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from predictor.models import JobStatus

log = logging.getLogger(__name__)

UNKNOWN_MODEL = "unknown"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)


def multiprocess_mode() -> bool:
    """True under gunicorn (the workers share a directory of metric files)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


@dataclass
class _Families:
    registry: CollectorRegistry | None
    predictions: Counter
    requests: Counter
    latency: Histogram
    batch_rows: Histogram
    jobs: Counter
    shadows: Counter
    shadow_failures: Counter
    security: Counter
    cpu: Gauge
    rss: Gauge
    # The labelled series already used, by (family, labels): prometheus_client's `labels()`
    # checks and locks on every call; a hot request asks for the same few series each time.
    series: dict = field(default_factory=dict)

    def child(self, family: str, *labels: str):
        key = (family, labels)
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = getattr(self, family).labels(*labels)
        return found


_lock = threading.Lock()
_families: _Families | None = None


def _make() -> _Families:
    shared = multiprocess_mode()
    # Shared: the values go to files, read back at scrape time by MultiProcessCollector;
    # registering them too would export them twice.
    registry = None if shared else CollectorRegistry()
    # Multiprocess mode labels each gauge sample with the pid of its file; here we do it.
    pid = () if shared else ("pid",)
    disable_created_metrics()  # the same series in both modes (files keep no _created)
    families = _Families(
        registry=registry,
        predictions=Counter(
            "mlsite_predictions",
            "Rows predicted and logged.",
            ["model", "version", "source"],
            registry=registry,
        ),
        requests=Counter(
            "mlsite_prediction_requests",
            "Prediction requests answered, by HTTP status.",
            ["model", "source", "code"],
            registry=registry,
        ),
        latency=Histogram(
            "mlsite_prediction_latency_seconds",
            "Time in the service per prediction request.",
            ["model", "source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        batch_rows=Histogram(
            "mlsite_model_batch_rows",
            "Rows per call of a model (after micro-batching).",
            ["model"],
            buckets=ROW_BUCKETS,
            registry=registry,
        ),
        jobs=Counter(
            "mlsite_training_jobs",
            "Training jobs that ended, by status.",
            ["status"],
            registry=registry,
        ),
        shadows=Counter(
            "mlsite_shadow_rows",
            "Rows sent to shadow versions, by outcome (logged, failed, dropped).",
            ["model", "outcome"],
            registry=registry,
        ),
        shadow_failures=Counter(
            "mlsite_shadow_failures",
            "Shadow calls that failed (the shadow raised), per shadow version.",
            ["model", "version"],
            registry=registry,
        ),
        security=Counter(
            "mlsite_security_events",
            "Security events: logins, failed logins, API keys made and revoked, denied bursts.",
            ["kind"],
            registry=registry,
        ),
        # liveall: one sample per live worker; a worker that exits takes its samples along
        # (gunicorn_conf.child_exit), so a dead pid's memory is not reported forever.
        cpu=Gauge(
            "mlsite_process_cpu_seconds_total",
            "CPU time (user + system) used by this server process.",
            pid,
            multiprocess_mode="liveall",
            registry=registry,
        ),
        rss=Gauge(
            "mlsite_process_resident_memory_bytes",
            "Resident memory of this server process.",
            pid,
            multiprocess_mode="liveall",
            registry=registry,
        ),
    )
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        families.jobs.labels(status)  # 0 rather than no series before the first job ends
    return families


def families() -> _Families:
    """The families of this process, made on first use."""
    global _families
    if _families is None:
        with _lock:
            if _families is None:
                _families = _make()
    return _families


def reset() -> None:
    """Forget every figure of this process (tests; not meaningful in multiprocess mode)."""
    global _families
    with _lock:
        _families = None


@contextlib.contextmanager
def never_raises(what: str):
    # A figure that cannot be recorded must not fail the request it describes: the
    # prediction was made and logged already.
    try:
        yield
    except Exception:  # any failure of the metrics store, whatever it is
        log.exception("could not record metric %s", what)
