"""The hot path: every prediction, whatever the door, goes along one line.

    door parses the body
      → routing.version_for      which version answers (and access: may this caller use it)
      → schema.rows_validate     every value checked and coerced, before the model sees it
      → runtime.runtime_for      the loaded version: labels and probabilities in one pass
      → one bulk INSERT          the rows are logged in the transaction that decides the answer
      → door renders the result

No response carries a prediction that was not stored.
"""

import re
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, Source, Task
from predictor.services.errors import InvalidInput
from predictor.services.schema import ValidRows, rows_validate
from predictor.services.serving import runtime

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")


def request_id_valid(given) -> bool:
    """A client's request id is kept only when it is safe to log, echo and export."""
    return isinstance(given, str) and REQUEST_ID.match(given) is not None


def request_id_clean(given) -> str:
    """The client's request id when valid, else a fresh one."""
    return given if request_id_valid(given) else uuid.uuid4().hex


@dataclass
class PredictionResult:
    version: ModelVersion
    predictions: list
    probabilities: list[dict] | None
    prediction_ids: list[int]
    warnings: list[str] = field(default_factory=list)
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
        if self.warnings:
            body["warnings"] = self.warnings
        return body


def predict(
    *,
    version: ModelVersion,
    records: list[dict],
    source: str = Source.API,
    user=None,
    request_id: str = "",
    max_rows: int | None = None,
) -> PredictionResult:
    """Validate rows, predict, and store one Prediction per row (one bulk insert)."""
    started = time.perf_counter()
    valid = rows_validate(
        schema=version.schema, records=records, max_rows=max_rows or settings.PREDICT_MAX_ROWS
    )
    return predict_valid(
        version=version,
        valid=valid,
        source=source,
        user=user,
        request_id=request_id,
        started=started,
    )


def predict_valid(
    *,
    version: ModelVersion,
    valid: ValidRows,
    source: str = Source.API,
    user=None,
    request_id: str = "",
    started: float | None = None,
) -> PredictionResult:
    """Predict rows that `rows_validate` accepted, and log them (one bulk insert)."""
    started = time.perf_counter() if started is None else started
    output = runtime.runtime_for(version).predict(valid.records)
    predicted, probabilities = output.predictions, output.probabilities
    latency_ms = (time.perf_counter() - started) * 1000.0
    request_id = request_id_clean(request_id)
    actor = user if getattr(user, "is_authenticated", False) else None
    now = timezone.now()
    rows = [
        Prediction(
            model_id=version.model_id,
            version=version,
            inputs=record,
            output=output,
            probabilities=probabilities[i] if probabilities else None,
            source=source,
            user=actor,
            latency_ms=latency_ms,
            request_id=request_id,
            created_at=now,
        )
        for i, (record, output) in enumerate(zip(valid.records, predicted))
    ]
    with transaction.atomic():
        created = Prediction.objects.bulk_create(rows)
    return PredictionResult(
        version=version,
        predictions=predicted,
        probabilities=probabilities,
        prediction_ids=[p.pk for p in created],
        warnings=valid.warnings,
        records=valid.records,
        request_id=request_id,
    )


def prediction_feedback(*, prediction: Prediction, actual) -> Prediction:
    """Store the ground truth of a logged prediction, checked against the model's task."""
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
    prediction.actual = actual
    prediction.actual_at = timezone.now()
    prediction.save(update_fields=["actual", "actual_at"])
    return prediction
