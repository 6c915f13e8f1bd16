"""The hot path: every prediction, whatever the door, goes along one line.

    door parses the body         (each door's request timed once: web/timing.py)
      → routing.route            which version answers and its shadows (access: may this
                                 caller use it; the traffic policy)
      → schema.rows_validate     every value checked and coerced, before the model sees it
      → microbatch               concurrent requests for the version share one model call
      → runtime.runtime_for      the loaded version: labels and probabilities in one pass
      → log.rows + one INSERT    the rows, sealed with the model's sensitive list, logged in
                                 the transaction that decides the answer
      → shadow                   shadow versions get the same rows, after the answer
      → door renders the result

No response carries a prediction that was not stored.
"""

import re
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from predictor.models import FeedbackSource, ModelVersion, Prediction, Source, Task
from predictor.services import access, metrics
from predictor.services.errors import InvalidInput
from predictor.services.log import aggregates, writer
from predictor.services.log.rows import log_rows
from predictor.services.schema import ValidRows, rows_validate
from predictor.services.serving import microbatch, runtime, shadow

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")


def request_id_valid(*, given) -> bool:
    """A client's request id is kept only when it is safe to log, echo and export."""
    return isinstance(given, str) and REQUEST_ID.match(given) is not None


def request_id_clean(*, given) -> str:
    """The client's request id when valid, else a fresh one."""
    return given if request_id_valid(given=given) else uuid.uuid4().hex


@dataclass
class PredictionResult:
    version: ModelVersion
    predictions: list
    probabilities: list[dict] | None
    prediction_ids: list[int]
    warnings: list[list[dict]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    request_id: str = ""

    def as_dict(self) -> dict:
        body = {
            "model": self.version.model.name,
            "version": self.version.version,
            "predictions": self.predictions,
        }
        if self.probabilities is not None:
            body["probabilities"] = self.probabilities
        body["prediction_ids"] = self.prediction_ids
        if any(self.warnings):  # only when some row has one: a list parallel to the rows
            body["warnings"] = self.warnings
        return body


@dataclass
class Call:
    """What a caller's rows are logged with."""

    version: ModelVersion
    source: str
    user: object
    request_id: str
    started: float


def predict(
    *,
    version: ModelVersion,
    records: list[dict],
    source: str = Source.API,
    user=None,
    request_id: str = "",
    max_rows: int | None = None,
    shadows: tuple = (),
) -> PredictionResult:
    """Validate rows, predict (sharing the model call with concurrent requests for the
    version), and store one Prediction per row before answering; then hand the rows to the
    shadow versions of the route, if any (after the answer's rows are committed)."""
    started = time.perf_counter()
    queue = microbatch.batcher_for(key=version.pk)
    with queue.arriving() as ticket:
        valid = rows_validate(
            schema=version.schema, records=records, max_rows=max_rows or settings.PREDICT_MAX_ROWS
        )
        result = _serve(version, valid, source, user, request_id, started, ticket)
    _shadow(result, shadows, user)
    return result


def predict_valid(
    *,
    version: ModelVersion,
    valid: ValidRows,
    source: str = Source.API,
    user=None,
    request_id: str = "",
    shadows: tuple = (),
) -> PredictionResult:
    """Predict rows that were validated already (a CSV file), and log them."""
    result = _serve(version, valid, source, user, request_id, time.perf_counter(), None)
    _shadow(result, shadows, user)
    return result


def _shadow(result: PredictionResult, shadows: tuple, user) -> None:
    if shadows:
        shadow.submit(
            work=shadow.Work(
                versions=list(shadows),
                records=result.records,
                served_ids=result.prediction_ids,
                user_id=getattr(access.actor(user=user), "pk", None),
                request_id=result.request_id,
            )
        )


def _serve(version, valid: ValidRows, source, user, request_id, started, ticket):
    request_id = request_id_clean(given=request_id)
    actor = access.actor(user=user)
    pending = microbatch.Pending(valid.records, Call(version, source, actor, request_id, started))
    if len(valid.records) > settings.MICROBATCH_MAX_ROWS:
        _execute([pending])  # a large request is a call of its own
        ids, predicted, probabilities = pending.outcome()
    else:
        ids, predicted, probabilities = microbatch.batcher_for(key=version.pk).submit(
            pending, _execute, ticket
        )
    return PredictionResult(
        version=version,
        predictions=predicted,
        probabilities=probabilities,
        prediction_ids=ids,
        warnings=access.version_warnings_shown(version=version, user=user, warnings=valid.warnings),
        notes=valid.notes,
        records=valid.records,
        request_id=request_id,
    )


def _execute(batch: list[microbatch.Pending]) -> None:
    """One model call for the rows of every caller in `batch` (one version), then their
    log rows in one INSERT, committed before any of them is answered. A caller whose rows
    the model answers with a number that is not finite gets an error of its own, and
    nothing of it is stored; the others are served."""
    version = batch[0].context.version
    output = runtime.runtime_for(version=version).predict([r for p in batch for r in p.rows])
    now = timezone.now()
    served = []
    rows, spans, start = [], [], 0
    for pending in batch:
        call, end = pending.context, start + len(pending.rows)
        if output.nonfinite and (refused := _nonfinite_error(output.nonfinite, start, end)):
            pending.error, start = refused, end
            continue
        latency_ms = (time.perf_counter() - call.started) * 1000.0
        probabilities = output.probabilities[start:end] if output.probabilities else None
        spans.append((pending, start, end, len(rows), probabilities))
        logged, record = log_rows(
            version=version,
            records=pending.rows,
            outputs=output.predictions[start:end],
            probabilities=probabilities,
            source=call.source,
            user_id=call.user.pk if call.user is not None else None,
            latency_ms=latency_ms,
            request_id=call.request_id,
            moment=now,
        )
        rows.extend(logged)
        served.append(record)
        start = end
    if not rows:
        return
    ids = writer.rows_write(rows=rows, served=served)
    metrics.call_logged(model_name=version.model.name, version_number=version.version, rows=rows)
    for pending, start, end, at, probabilities in spans:
        pending.value = (ids[at : at + end - start], output.predictions[start:end], probabilities)


def _nonfinite_error(nonfinite: tuple, start: int, end: int) -> InvalidInput | None:
    """The error of a caller (rows start..end of the call) with a non-finite output."""
    row = next((i - start + 1 for i in nonfinite if start <= i < end), None)
    if row is None:
        return None
    return InvalidInput(
        f"row {row}: the model's output is not a finite number, so it can be neither "
        "stored nor answered; the inputs are probably far outside the training range",
        row=row,
    )


def feedback_source(*, user) -> str:
    """Whose word the ground truth is: staff, a logged-in user, or an anonymous visitor (an
    API key never gives it; nobody named counts as anonymous, the least trusted)."""
    if access.is_staff(user=user):
        return FeedbackSource.STAFF
    return FeedbackSource.USER if access.is_authenticated(user=user) else FeedbackSource.ANONYMOUS


def prediction_feedback(*, prediction: Prediction, actual, user=None) -> Prediction:
    """Store the ground truth of a logged prediction, checked against the model's task, with
    who gave it (retraining and monitoring weigh it by its source)."""
    version = prediction.version
    if version.model.task == Task.CLASSIFICATION:
        classes = version.classes or []
        # The class itself, or its name as text (what forms and CSV files send).
        match = next((c for c in classes if type(c) is type(actual) and c == actual), None)
        if match is None and isinstance(actual, str):
            match = next((c for c in classes if not isinstance(c, bool) and str(c) == actual), None)
        if match is None:
            raise InvalidInput(
                f"'actual' must be one of the model's classes: {', '.join(map(repr, classes))}",
                field="actual",
            )
        actual = match
    else:
        if (
            isinstance(actual, bool)
            or not isinstance(actual, (int, float))
            or not np.isfinite(actual)
        ):
            raise InvalidInput(
                "'actual' must be a finite number for a regression model", field="actual"
            )
        actual = float(actual)
    with transaction.atomic():
        # The row as it is now (feedback may be given twice at once): what it adds to the
        # hour's feedback figures replaces what the earlier answer added.
        before = Prediction.objects.select_for_update().values_list("actual", flat=True)
        previous = before.get(pk=prediction.pk)
        tally = aggregates.Tally()
        for value, sign in ((previous, -1), (actual, 1)):
            tally.add_feedback(
                version,
                moment=prediction.created_at,
                source=prediction.source,
                user_id=prediction.user_id,
                figures=aggregates.feedback_figures(
                    version=version, output=prediction.output, actual=value
                ),
                sign=sign,
            )
        prediction.actual = actual
        prediction.actual_at = timezone.now()
        prediction.actual_source = feedback_source(user=user)
        prediction.actual_by = access.actor(user=user)
        prediction.save(update_fields=["actual", "actual_at", "actual_source", "actual_by"])
        aggregates.tally_write(tally, DEFAULT_DB_ALIAS)
    return prediction
