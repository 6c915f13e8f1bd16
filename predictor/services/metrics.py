"""Prometheus metrics: the families the service exports, the small functions that record
them, and the text exposition that `/metrics` serves.

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
import time
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import DatabaseError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily

from predictor.models import JobStatus, ModelVersion, RegisteredModel, Stage

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN_MODEL = "unknown"
PROCESS_SAMPLE_SECONDS = 5.0
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
_sampler: threading.Thread | None = None


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


def _get() -> _Families:
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
def _never_raises(what: str):
    # A figure that cannot be recorded must not fail the request it describes: the
    # prediction was made and logged already.
    try:
        yield
    except Exception:  # any failure of the metrics store, whatever it is
        log.exception("could not record metric %s", what)


# --- recording ----------------------------------------------------------------------------


def call_logged(*, model_name: str, version_number: int, rows: list[dict]) -> None:
    """One model call whose rows were logged: rows per source, and the size of the call."""
    with _never_raises("predictions"):
        families = _get()
        by_source: dict[str, int] = {}
        for row in rows:
            by_source[row["source"]] = by_source.get(row["source"], 0) + 1
        for source, count in by_source.items():
            families.child("predictions", model_name, str(version_number), source).inc(count)
        families.child("batch_rows", model_name).observe(len(rows))


def prediction_request(*, model_name: str, source: str, code: int, seconds: float) -> None:
    """A prediction request answered with HTTP status `code` after `seconds`."""
    with _never_raises("prediction requests"):
        families = _get()
        families.child("requests", model_name, source, str(code)).inc()
        families.child("latency", model_name, source).observe(seconds)


def shadow_rows(*, model_name: str, outcome: str, rows: int) -> None:
    """Rows of a shadow version: logged, failed (the shadow raised) or dropped (queue full)."""
    with _never_raises("shadow rows"):
        _get().shadows.labels(model_name, outcome).inc(rows)


def security_event(*, kind: str) -> None:
    with _never_raises("security events"):
        _get().security.labels(kind).inc()


def job_ended(*, status: str) -> None:
    """A training job reached its end (succeeded, failed, ...)."""
    with _never_raises("training jobs"):
        _get().jobs.labels(str(status)).inc()


def status_of(exc: BaseException) -> int:
    """The HTTP status a door answers for an exception that left the service (a door
    knows better for its own exceptions: it sets `RequestTimer.code` first)."""
    if isinstance(exc, DatabaseError):
        return 503
    if isinstance(exc, ObjectDoesNotExist):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    code = getattr(exc, "status_code", None)  # ServiceError and DRF's APIException
    return code if isinstance(code, int) else 500


def model_label(name: str) -> str:
    """The name of an existing model, else "unknown": a label must not take any value a
    client sends."""
    try:
        return name if RegisteredModel.objects.filter(name=name).exists() else UNKNOWN_MODEL
    except DatabaseError:
        return UNKNOWN_MODEL


class RequestTimer:
    """One prediction request being answered; the door sets `code` from its response."""

    def __init__(self, *, source: str, model_name: str):
        self.source = source
        self.model_name = model_name
        self.code: int | None = None
        self.started = time.perf_counter()

    def finish(self) -> None:
        code = self.code or 500
        # A 2xx names an existing model; a refusal or a redirect (a page hiding whether
        # the model exists) may name anything a client sent.
        model = self.model_name if 200 <= code < 300 else model_label(self.model_name)
        prediction_request(
            model_name=model,
            source=self.source,
            code=code,
            seconds=time.perf_counter() - self.started,
        )


@contextlib.contextmanager
def prediction_request_timed(*, source: str, model_name: str):
    """Time a prediction request and count it by status, whether it is answered with a
    response (the door sets `timer.code`) or leaves as an exception (mapped by `status_of`)."""
    timer = RequestTimer(source=source, model_name=model_name)
    try:
        yield timer
    except BaseException as exc:
        if timer.code is None:
            timer.code = status_of(exc)
        raise
    finally:
        timer.finish()


# --- the process and the registry, read at scrape time -------------------------------------


def _process_sample(families: _Families) -> None:
    cpu = sum(os.times()[:2])
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = None  # not Linux: no figure rather than a wrong one
    if families.registry is None:
        cpu_gauge, rss_gauge = families.cpu, families.rss
    else:
        pid = str(os.getpid())
        cpu_gauge, rss_gauge = families.cpu.labels(pid), families.rss.labels(pid)
    cpu_gauge.set(cpu)
    if rss is not None:
        rss_gauge.set(rss)


def process_sampler_start() -> None:
    """Sample this worker's CPU and memory every few seconds from now on (gunicorn's
    post_worker_init), so every live worker shows, also one that has served nothing."""
    global _sampler
    families = _get()
    with _lock:
        if _sampler is not None:
            return
        _sampler = threading.Thread(
            target=_sample_forever, args=(families,), name="metrics-process", daemon=True
        )
    _sampler.start()


def _sample_forever(families: _Families) -> None:
    while True:
        with _never_raises("process"):
            _process_sample(families)
        time.sleep(PROCESS_SAMPLE_SECONDS)


class ModelInfoCollector:
    """`mlsite_model_info`: 1 per version that is not archived, read at scrape time."""

    def describe(self):
        # Registration asks for the names; the database is read only at collection.
        return [self._family()]

    def collect(self):
        family = self._family()
        try:
            rows = ModelVersion.objects.exclude(stage=Stage.ARCHIVED).values_list(
                "model__name", "version", "stage"
            )
            for name, number, stage in rows.order_by("model__name", "version"):
                family.add_metric([name, str(number), stage], 1)
        except DatabaseError as exc:
            # The other figures still serve while the database is away.
            log.warning("mlsite_model_info left out: %s", exc)
            return []
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "mlsite_model_info",
            "The registry's versions that are not archived (value 1), for joins.",
            labels=["model", "version", "stage"],
        )


def exposition() -> bytes:
    """Every family in Prometheus' text format, totals over all worker processes."""
    families = _get()
    with _never_raises("process"):
        _process_sample(families)
    registry = CollectorRegistry()
    if families.registry is None:
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(families.registry)
    registry.register(ModelInfoCollector())
    return generate_latest(registry)
