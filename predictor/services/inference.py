"""Validated rows → predictions, logged in the same transaction that decides the response."""

import re
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, Source, Task
from predictor.services import artifacts
from predictor.services.errors import (
    ArtifactIntegrityError,
    InvalidInput,
    NotFound,
    VersionUnavailable,
)
from predictor.services.schema import frame_from_records, rows_validate

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


def version_pipeline(version: ModelVersion):
    """The fitted pipeline of a version (hash-checked, cached per process).

    A version whose artifact cannot be loaded raises VersionUnavailable (503), naming the
    model, the version and the fault; other versions are not affected.
    """
    try:
        return artifacts.artifact_load(
            name=version.artifact, sha256=version.sha256, fmt=version.artifact_format
        )
    except ArtifactIntegrityError as exc:
        raise VersionUnavailable(
            f"model {version.model.name!r} version {version.version} cannot serve: {exc.message}",
            model=version.model.name,
            version=version.version,
            fault=exc.fault,
        ) from None


def versions_unloadable(versions) -> list[tuple[ModelVersion, str, str]]:
    """(version, fault, message) for each version whose artifact would not load now."""
    broken = []
    for version in versions:
        try:
            artifacts.artifact_verify(
                name=version.artifact, sha256=version.sha256, fmt=version.artifact_format
            )
        except ArtifactIntegrityError as exc:
            broken.append((version, exc.fault, exc.message))
    return broken


def _native(value):
    return value.item() if isinstance(value, np.generic) else value


def run_model(version: ModelVersion, records: list[dict]):
    """Predictions (and class probabilities when the model has them) for clean records."""
    pipeline = version_pipeline(version)
    frame = frame_from_records(schema=version.schema, records=records)
    predicted = [_native(v) for v in pipeline.predict(frame)]
    probabilities = None
    if version.model.task == Task.CLASSIFICATION and hasattr(pipeline, "predict_proba"):
        classes = [_native(c) for c in pipeline.classes_]
        proba = pipeline.predict_proba(frame)
        probabilities = [
            {str(c): round(float(p), 6) for c, p in zip(classes, row)} for row in proba
        ]
    else:
        predicted = [float(v) if isinstance(v, (int, float)) else v for v in predicted]
    return predicted, probabilities


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
    predicted, probabilities = run_model(version, valid.records)
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


def prediction_get(*, pk, user, also: tuple | list = ()) -> Prediction:
    """A prediction the user may see (their own, or one of `also`; staff: any), else NotFound."""
    qs = Prediction.objects.select_related("version", "version__model", "model")
    if not getattr(user, "is_staff", False):
        mine = Q(user_id=user.pk) if getattr(user, "is_authenticated", False) else Q(pk__in=[])
        qs = qs.filter(mine | Q(pk__in=list(also)))
    try:
        return qs.get(pk=int(pk))
    except (Prediction.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no prediction {pk}") from None
