"""Import a model trained elsewhere, without letting its file run code on the server.
(Scoring imports scikit-learn when a model is imported, not when this module is.)"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from predictor.models import Dataset, ModelVersion, Task
from predictor.services import registry
from predictor.services.errors import ArtifactIntegrityError, InvalidInput
from predictor.services.reference import reference_stats_from_frame
from predictor.services.registry import artifacts
from predictor.services.registry.datasets import dataset_frame
from predictor.services.schema import (
    CATEGORICAL,
    NUMERIC,
    example_record,
    records_from_frame,
    schema_from_frame,
)
from predictor.services.serving import runtime
from predictor.services.serving.compiled.build import compile_pipeline
from predictor.services.training.algorithms import MAIN_METRIC, params_jsonable

if TYPE_CHECKING:
    import pandas as pd

FEATURE_TYPES = (NUMERIC, CATEGORICAL)


@dataclass
class LoadedUpload:
    model: object
    fmt: str
    warning: str = ""


def _is_skops(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def upload_load(*, data: bytes, user) -> LoadedUpload:
    """Load an uploaded artifact: skops after the type check; pickle only if allowed."""
    if not data:
        raise InvalidInput("the uploaded file is empty", field="file")
    if _is_skops(data):
        try:
            # Every type is checked against the allow-list before anything is built.
            model = artifacts.skops_loads(data)
        except ArtifactIntegrityError as exc:
            raise InvalidInput(exc.message, field="file", **exc.details) from None
        return LoadedUpload(model=model, fmt="skops")
    if not settings.ALLOW_PICKLE_IMPORT:
        raise InvalidInput(
            "only skops files (.skops) are accepted: joblib/pickle files can run code when "
            "loaded, and pickle import is off (setting ALLOW_PICKLE_IMPORT)",
            field="file",
        )
    if not getattr(user, "is_superuser", False):
        raise InvalidInput("only superusers may import joblib/pickle files", field="file")
    import joblib

    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as exc:  # any unreadable pickle is refused
        raise InvalidInput(
            f"the joblib/pickle file could not be loaded: {exc}", field="file"
        ) from None
    return LoadedUpload(
        model=model,
        fmt="joblib",
        warning="a pickle file was imported: it could have run code on this server when loaded",
    )


def parse_features(text: str) -> list[dict]:
    """'name:type' per line or comma (type numeric or categorical; default numeric)."""
    features = []
    for part in [p.strip() for chunk in (text or "").splitlines() for p in chunk.split(",")]:
        if not part:
            continue
        name, _, kind = part.partition(":")
        name, kind = name.strip(), (kind.strip() or NUMERIC)
        if kind not in FEATURE_TYPES:
            raise InvalidInput(
                f"feature {name!r} has type {kind!r}; use numeric or categorical", field="features"
            )
        if any(f["name"] == name for f in features):
            raise InvalidInput(f"feature {name!r} is declared twice", field="features")
        features.append({"name": name, "type": kind, "nullable": False, "missing": 0.0})
    return features


@dataclass
class Declared:
    """What the imported model takes: its schema, the training distribution when a dataset
    is given (with its rows, to evaluate on), and the target's name."""

    schema: list[dict]
    reference: dict
    frame: pd.DataFrame | None
    target: str


def _declared(
    *, dataset: Dataset | None, target: str, features: str, classification: bool
) -> Declared:
    if dataset is None:
        schema = parse_features(features)
        if not schema:
            raise InvalidInput(
                "declare the features (name:type) or pick a dataset", field="features"
            )
        if not target:
            raise InvalidInput("name the target", field="target")
        return Declared(schema=schema, reference={}, frame=None, target=target)
    frame = dataset_frame(dataset)
    target = target or dataset.target
    if target not in frame.columns:
        raise InvalidInput(f"dataset {dataset.name!r} has no column {target!r}", field="target")
    X = frame.drop(columns=[target])
    if features:
        wanted = [f["name"] for f in parse_features(features)]
        missing = [n for n in wanted if n not in X.columns]
        if missing:
            raise InvalidInput(f"dataset has no column {missing[0]!r}", field="features")
        X = X[wanted]
    return Declared(
        schema=schema_from_frame(X, nullable=False),
        reference=reference_stats_from_frame(X, frame[target], classification=classification),
        frame=frame,
        target=target,
    )


def _check_predicts(model, *, schema: list[dict], task: str) -> None:
    """The model answers a typical row of its declared schema, through the runtime."""
    sample = example_record(schema)
    try:
        runtime.runtime_of(model, schema=schema, task=task).predict([sample])
    except Exception as exc:  # whatever breaks, the model does not fit its declared schema
        raise InvalidInput(
            f"the model failed to predict a sample row of the declared schema ({sample}): {exc}",
            field="features",
        ) from None


def _classes(model, task: str) -> list | None:
    if task != Task.CLASSIFICATION:
        return None
    if not hasattr(model, "classes_"):
        raise InvalidInput("a classifier must have classes_ (is it fitted?)", field="file")
    return np.asarray(model.classes_).tolist()


def _metrics(model, declared: Declared, task: str, classes, dataset) -> dict:
    """Marked as imported; scored on the dataset when there is one."""
    metrics = {"main": MAIN_METRIC[task], "imported": True}
    if declared.frame is None:
        return metrics
    from predictor.services.training.evaluate import evaluate
    from predictor.services.training.fit import split_features

    columns = [f["name"] for f in declared.schema] + [declared.target]
    X_eval, y_eval = split_features(declared.frame[columns], declared.target, task)
    try:
        metrics.update(evaluate(model, X_eval, y_eval, task, classes))
    except Exception as exc:  # a model that cannot be scored on its dataset is refused
        raise InvalidInput(f"the model could not be evaluated on the dataset: {exc}") from None
    metrics["n_test"] = len(X_eval)
    metrics["evaluated_on"] = dataset.name
    return metrics


def version_import(
    *,
    model_name: str,
    task: str,
    data: bytes,
    user,
    target: str = "",
    features: str = "",
    dataset: Dataset | None = None,
    description: str = "",
) -> tuple[ModelVersion, str]:
    """Store an outside model as a new version; returns it and any warning to show.

    Everything is checked before anything is stored: the task, the file (allow-list), the
    declared inputs, a prediction of a typical row, and the metrics on the dataset.
    """
    registry.model_check_task(name=model_name, task=task)
    loaded = upload_load(data=data, user=user)
    model = loaded.model
    if not hasattr(model, "predict"):
        raise InvalidInput("the uploaded object has no predict method", field="file")
    declared = _declared(
        dataset=dataset,
        target=target,
        features=features,
        classification=task == Task.CLASSIFICATION,
    )
    classes = _classes(model, task)
    _check_predicts(model, schema=declared.schema, task=task)
    metrics = _metrics(model, declared, task, classes, dataset)

    rows = []
    if declared.frame is not None:
        rows = records_from_frame(declared.frame.head(500), declared.schema)
    compiled = compile_pipeline(
        model, schema=declared.schema, task=task, classes=classes, rows=rows
    )
    stored = artifacts.artifact_store_bytes(data=data, fmt=loaded.fmt)
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    params = (
        params_jsonable(estimator.get_params(deep=False))
        if hasattr(estimator, "get_params")
        else {}
    )
    version = registry.version_create(
        model=registry.model_get_or_create(name=model_name, task=task, description=description),
        stored=stored,
        user=user,
        algorithm=f"imported:{type(estimator).__name__}",
        params=params,
        schema=declared.schema,
        target_name=declared.target,
        classes=classes,
        metrics=metrics,
        dataset=dataset,
        reference_stats=declared.reference,
        **compiled,
    )
    return version, loaded.warning
