"""Import a model trained elsewhere: its file is opened only in the import sandbox.

The server process never loads an outside file. It declares what the model takes (a schema
from the form or a dataset), hands the file to a short-lived child process without secrets
(`sandbox`), and gets back data only: the verified ONNX graph that will serve, the classes,
params, metrics, explanation and the audit report. The skops file is stored as the
version's provenance; the ONNX graph is what serves (`runtime` is always "onnx"), and no
serving process loads the skops file again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from predictor.models import Dataset, ModelVersion, Task
from predictor.services import registry
from predictor.services.errors import InvalidInput
from predictor.services.monitoring.reference import reference_stats_from_frame
from predictor.services.registry import artifacts, onnx_check, sandbox
from predictor.services.registry.datasets import dataset_frame
from predictor.services.registry.sensitive import sensitive_names
from predictor.services.schema import CATEGORICAL, NUMERIC, records_from_frame, schema_from_frame
from predictor.services.serving.compiled.build import onnx_fields

if TYPE_CHECKING:
    import pandas as pd

FEATURE_TYPES = (NUMERIC, CATEGORICAL)
PICKLE_WARNING = "a pickle file was imported: it could have run code on this server when loaded"


def parse_features(*, text: str) -> list[dict]:
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
    *,
    dataset: Dataset | None,
    target: str,
    features: str,
    classification: bool,
    model_name: str = "",
) -> Declared:
    if dataset is None:
        schema = parse_features(text=features)
        if not schema:
            raise InvalidInput(
                "declare the features (name:type) or pick a dataset", field="features"
            )
        if not target:
            raise InvalidInput("name the target", field="target")
        return Declared(schema=schema, reference={}, frame=None, target=target)
    frame = dataset_frame(dataset=dataset)
    target = target or dataset.target
    if target not in frame.columns:
        raise InvalidInput(f"dataset {dataset.name!r} has no column {target!r}", field="target")
    X = frame.drop(columns=[target])
    if features:
        wanted = [f["name"] for f in parse_features(text=features)]
        missing = [n for n in wanted if n not in X.columns]
        if missing:
            raise InvalidInput(f"dataset has no column {missing[0]!r}", field="features")
        X = X[wanted]
    return Declared(
        schema=schema_from_frame(X=X, nullable=False),
        reference=reference_stats_from_frame(
            X=X,
            y=frame[target],
            classification=classification,
            sensitive=sensitive_names(model_name=model_name, features=list(X.columns)),
        ),
        frame=frame,
        target=target,
    )


def _request(*, declared: Declared, task: str, user, dataset: Dataset | None) -> dict:
    """What the sandbox is told: all of it trusted data of this server, no secret."""
    frame = None
    rows = []
    if declared.frame is not None:
        columns = [f["name"] for f in declared.schema] + [declared.target]
        table = declared.frame[columns].astype(object)
        table = table.where(table.notna(), None)
        frame = {"columns": columns, "data": table.values.tolist()}
        rows = records_from_frame(X=declared.frame.head(500), schema=declared.schema)
    return {
        "task": task,
        "schema": declared.schema,
        "target": declared.target,
        "frame": frame,
        "rows": rows,
        "dataset_name": dataset.name if dataset else "",
        "trusted_extra": list(settings.SKOPS_TRUSTED_TYPES_EXTRA),
        "pickle": {
            "enabled": bool(settings.ALLOW_PICKLE_IMPORT),
            "superuser": bool(getattr(user, "is_superuser", False)),
        },
        "limits": sandbox.sandbox_limits(),
    }


def sandbox_check(*, data: bytes, declared: Declared, task: str, user, dataset=None) -> dict:
    """The sandbox's answer for this file, checked; InvalidInput with its reason if refused."""
    if not data:
        raise InvalidInput("the uploaded file is empty", field="file")
    answer = sandbox.sandbox_run(
        request=_request(declared=declared, task=task, user=user, dataset=dataset), data=data
    )
    if not answer["ok"]:
        details = {
            k: answer[k] for k in ("refused", "path") if isinstance(answer.get(k), (list, str))
        }
        field = (
            answer.get("field") if answer.get("field") in ("file", "features", "target") else "file"
        )
        raise InvalidInput(str(answer.get("reason", "refused"))[:2000], field=field, **details)
    return onnx_check.answer_checked(answer=answer, schema=declared.schema, task=task)


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

    Everything is checked before anything is stored: the task, the declared inputs, then in
    the sandbox the file (allow-list, audit), a prediction of a typical row, the metrics on
    the dataset and the ONNX graph's verification; here again the graph itself.
    """
    registry.model_check_task(name=model_name, task=task)
    declared = _declared(
        dataset=dataset,
        target=target,
        features=features,
        classification=task == Task.CLASSIFICATION,
        model_name=model_name,
    )
    checked = sandbox_check(data=data, declared=declared, task=task, user=user, dataset=dataset)
    stored = artifacts.artifact_store_bytes(data=data, fmt=checked["format"])
    version = registry.version_create(
        model=registry.model_get_or_create(name=model_name, task=task, description=description),
        stored=stored,
        user=user,
        algorithm=checked["algorithm"],
        params=checked["params"],
        schema=declared.schema,
        target_name=declared.target,
        classes=checked["classes"],
        metrics=checked["metrics"],
        dataset=dataset,
        reference_stats=declared.reference,
        importance=checked["importance"],
        audit={"status": "passed", **checked["audit"]},
        **onnx_fields(data=checked["onnx"], note=checked["runtime_note"]),
    )
    return version, PICKLE_WARNING if checked["format"] == "joblib" else ""


def version_reaudit(*, version: ModelVersion) -> str | None:
    """Audit an imported version's stored file again in the sandbox (a version imported
    before the sandbox, or under an older rule); one refused is served nowhere from now on.
    The reason it was refused, or None when it passes."""
    data = artifacts.artifact_read_verified(name=version.artifact, sha256=version.sha256)
    declared = Declared(schema=version.schema, reference={}, frame=None, target=version.target_name)
    try:
        checked = sandbox_check(
            data=data, declared=declared, task=version.model.task, user=_Operator()
        )
    except InvalidInput as exc:
        registry.version_audit_record(
            version=version, audit={"status": "refused", "reason": exc.message}
        )
        return exc.message
    registry.version_audit_record(version=version, audit={"status": "passed", **checked["audit"]})
    return None


class _Operator:
    """The operator who runs `check_artifacts`: a stored pickle was a superuser's import."""

    is_superuser = True
