"""Recording: the small functions the core calls when something worth counting happens,
and the timing of a prediction request. None of them fails the request it describes."""

import contextlib
import time

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import DatabaseError

from predictor.models import RegisteredModel
from predictor.services.metrics.families import UNKNOWN_MODEL, families, never_raises


def call_logged(*, model_name: str, version_number: int, rows: list[dict]) -> None:
    """One model call whose rows were logged: rows per source, and the size of the call."""
    with never_raises("predictions"):
        made = families()
        by_source: dict[str, int] = {}
        for row in rows:
            by_source[row["source"]] = by_source.get(row["source"], 0) + 1
        for source, count in by_source.items():
            made.child("predictions", model_name, str(version_number), source).inc(count)
        made.child("batch_rows", model_name).observe(len(rows))


def prediction_request(*, model_name: str, source: str, code: int, seconds: float) -> None:
    """A prediction request answered with HTTP status `code` after `seconds`."""
    with never_raises("prediction requests"):
        made = families()
        made.child("requests", model_name, source, str(code)).inc()
        made.child("latency", model_name, source).observe(seconds)


def shadow_rows(*, model_name: str, outcome: str, rows: int) -> None:
    """Rows of a shadow version: logged, failed (the shadow raised) or dropped (queue full)."""
    with never_raises("shadow rows"):
        families().shadows.labels(model_name, outcome).inc(rows)


def shadow_failure(*, model_name: str, version_number: int) -> None:
    """A shadow version raised on the rows it was sent (one failed call)."""
    with never_raises("shadow failures"):
        families().shadow_failures.labels(model_name, str(version_number)).inc()


def security_event(*, kind: str) -> None:
    with never_raises("security events"):
        families().security.labels(kind).inc()


def job_ended(*, status: str) -> None:
    """A training job reached its end (succeeded, failed, ...)."""
    with never_raises("training jobs"):
        families().jobs.labels(str(status)).inc()


def status_of(*, exc: BaseException) -> int:
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


def model_label(*, name: str) -> str:
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
        model = self.model_name if 200 <= code < 300 else model_label(name=self.model_name)
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
            timer.code = status_of(exc=exc)
        raise
    finally:
        timer.finish()
