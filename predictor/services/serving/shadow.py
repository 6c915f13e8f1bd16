"""Shadow versions: the rows of a routed request, predicted again by each shadow version of
the policy after the response's own rows are committed, and logged with source `shadow`
and `shadow_of` (the served row). Nobody sees their answers.

A shadow never changes the response: by default (`SHADOW_MODE=thread`) the work goes to a
queue of this process, bounded at `SHADOW_QUEUE_ROWS` rows (beyond it rows are dropped and
counted), served by one background thread; `inline` runs it in the request's thread after
its rows are logged (tests, or a deployment that wants no background thread). A failure is
logged and counted — `mlsite_shadow_failures_total` per version, and a ShadowFailure row
with the last error that the traffic and compare pages show — nothing more.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from predictor.models import Source, Stage
from predictor.models.operations import ShadowFailure
from predictor.services import metrics
from predictor.services.log import writer
from predictor.services.log.rows import log_rows
from predictor.services.metrics import record
from predictor.services.schema import rows_validate
from predictor.services.serving import runtime

log = logging.getLogger(__name__)


@dataclass
class Work:
    versions: list  # the shadow ModelVersions
    records: list[dict]
    served_ids: list[int]
    user_id: int | None
    request_id: str


_queue: queue.Queue = queue.Queue()
_state = {"rows": 0, "busy": 0}
_lock = threading.Lock()
_worker: threading.Thread | None = None


def submit(*, work: Work) -> None:
    """Run `work` after the response (queued) or now (inline); never raises."""
    if not work.versions:
        return
    if settings.SHADOW_MODE == "inline":
        run(work)
        return
    rows = len(work.records) * len(work.versions)
    with _lock:
        if _state["rows"] + rows > settings.SHADOW_QUEUE_ROWS:
            for version in work.versions:
                metrics.shadow_rows(
                    model_name=version.model.name, outcome="dropped", rows=len(work.records)
                )
            return
        _state["rows"] += rows
        _start()
    _queue.put(work)


def _start() -> None:
    global _worker
    if _worker is None or not _worker.is_alive():
        _worker = threading.Thread(target=_serve_forever, name="mlsite-shadow", daemon=True)
        _worker.start()


def _serve_forever() -> None:
    while True:
        work = _queue.get()
        with _lock:
            _state["busy"] += 1
        try:
            close_old_connections()
            run(work)
        finally:
            with _lock:
                _state["rows"] -= len(work.records) * len(work.versions)
                _state["busy"] -= 1
            _queue.task_done()


def run(work: Work) -> None:
    """Predict and log the rows with each shadow version."""
    for version in work.versions:
        try:
            _one(version, work)
        except Exception as exc:  # a shadow's failure is its own, never the caller's
            log.warning("shadow %s failed on %d rows: %s", version, len(work.records), exc)
            metrics.shadow_rows(
                model_name=version.model.name, outcome="failed", rows=len(work.records)
            )
            failure_record(version=version, exc=exc)
        else:
            metrics.shadow_rows(
                model_name=version.model.name, outcome="logged", rows=len(work.records)
            )


def failure_record(*, version, exc: BaseException) -> None:
    """Count a failed shadow call of `version` (Prometheus, and in the database with the
    last error, for every process's pages); never raises."""
    record.shadow_failure(model_name=version.model.name, version_number=version.version)
    error = (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:1000]
    changes = {"count": F("count") + 1, "last_error": error, "last_at": timezone.now()}
    try:
        with transaction.atomic():  # a savepoint: inline, the request's transaction goes on
            if not ShadowFailure.objects.filter(version_id=version.pk).update(**changes):
                ShadowFailure.objects.create(
                    version_id=version.pk, count=1, last_error=error, last_at=changes["last_at"]
                )
    except IntegrityError:  # another process made the row first
        ShadowFailure.objects.filter(version_id=version.pk).update(**changes)
    except DatabaseError:
        log.exception("could not record the failure of shadow %s", version)


def failures_of(*, model) -> list[ShadowFailure]:
    """The model's versions that failed as shadows, the latest failure first."""
    return list(
        ShadowFailure.objects.filter(version__model=model)
        .select_related("version")
        .order_by("-last_at", "-id")
    )


def _one(version, work: Work) -> None:
    if version.stage == Stage.ARCHIVED:
        return
    started = time.perf_counter()
    # The shadow's own schema decides what it accepts (it may have been trained otherwise).
    records = rows_validate(
        schema=version.schema, records=work.records, max_rows=len(work.records)
    ).records
    output = runtime.runtime_for(version=version).predict(records)
    if output.nonfinite:
        raise ValueError(f"the output of row {output.nonfinite[0] + 1} is not a finite number")
    rows, served = log_rows(
        version=version,
        records=records,
        outputs=output.predictions,
        probabilities=output.probabilities,
        source=Source.SHADOW,
        user_id=work.user_id,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        request_id=work.request_id,
        moment=timezone.now(),
        shadow_of=work.served_ids,
    )
    writer.rows_write(rows=rows, served=[served])
