"""What runs INSIDE the import sandbox: everything that touches an outside model file.

`run(request, data)` is called by `mlsite/sandbox_main.py` in a short-lived child process
with no secrets, its own temporary directory and resource limits
(`predictor.services.registry.sandbox` starts it). In order, each step refusing with a
reason the person importing can act on:

1. the archive's size and compression ratio, before anything is extracted;
2. the skops type check against the service's allow-list (nothing is built before it);
   a pickle only when the parent says this user may import one;
3. loading, then the structural audit of every value (`audit`);
4. the declared schema: a prediction of a typical row; the classes;
5. metrics on the dataset's rows, when the parent sent them;
6. what drives the model (importances or coefficients);
7. conversion to ONNX and its verification against the loaded model.

It answers data only (JSON): the ONNX graph (base64), classes, params, metrics, the
explanation, the audit report. Never a pickle, never an object.
"""

from __future__ import annotations

import base64
import io
import zipfile

import numpy as np

from predictor.models import IMPORTED_PREFIX, Task
from predictor.services.errors import ArtifactIntegrityError, InvalidInput
from predictor.services.registry import artifacts, audit, trusted_types
from predictor.services.schema import example_record
from predictor.services.serving import explain, runtime
from predictor.services.serving.compiled.build import convert_verified
from predictor.services.training.algorithms import MAIN_METRIC, params_jsonable


class Refused(Exception):
    def __init__(self, reason: str, field: str = "file", **details):
        super().__init__(reason)
        self.reason, self.field, self.details = reason, field, details


def run(request: dict, data: bytes) -> dict:
    """The whole import check; {"ok": True, ...} or {"ok": False, "reason", "field"}."""
    try:
        return {"ok": True, **_run(request, data)}
    except MemoryError:
        raise  # the entry point names the limit
    except Refused as exc:
        return {"ok": False, "reason": exc.reason, "field": exc.field, **exc.details}
    except ArtifactIntegrityError as exc:
        return {"ok": False, "reason": exc.message, "field": "file", **_jsonable(exc.details)}
    except InvalidInput as exc:
        return {"ok": False, "reason": exc.message, "field": exc.details.get("field", "file")}
    except RecursionError:
        return {"ok": False, "reason": "the model file was refused: it is nested too deeply"}
    except Exception as exc:  # a file that breaks a step in any other way is refused
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return {
            "ok": False,
            "reason": f"the model file was refused: checking it failed ({type(exc).__name__}: {why})",
            "field": "file",
        }


def _memory(exc: BaseException) -> None:
    """A step's broad refusal must not hide running out of memory."""
    if isinstance(exc, MemoryError):
        raise exc


def _jsonable(details: dict) -> dict:
    return {k: v for k, v in details.items() if isinstance(v, (str, int, float, list))}


def _configure(request: dict) -> None:
    """The parent's rules, as this process's settings (the sandbox has no .env to read)."""
    from django.conf import settings

    limits = request["limits"]
    settings.SKOPS_TRUSTED_TYPES_EXTRA = list(request["trusted_extra"])
    settings.SANDBOX_MAX_UNCOMPRESSED_BYTES = limits["max_uncompressed_bytes"]
    settings.SANDBOX_MAX_COMPRESSION_RATIO = limits["max_ratio"]
    trusted_types._shipped.cache_clear()


def _run(request: dict, data: bytes) -> dict:
    _configure(request)
    limits = request["limits"]
    model, fmt = _load(request, data)
    report = audit.audit(
        model=model,
        callable_types=trusted_types.trusted_types(),
        max_array_bytes=limits["max_array_bytes"],
        max_total_bytes=limits["max_uncompressed_bytes"],
    )
    if not hasattr(model, "predict"):
        raise Refused("the uploaded object has no predict method")
    schema, task = request["schema"], request["task"]
    classes = _classes(model, task)
    _check_predicts(model, schema=schema, task=task)
    metrics = _metrics(model, request, task, classes)
    rows = request["rows"] or synthetic_rows(schema=schema)
    onnx, note = convert_verified(
        pipeline=model, schema=schema, task=task, classes=classes, rows=rows
    )
    if onnx is None:
        raise Refused(
            f"the model was refused: an imported model is served only as a verified ONNX "
            f"graph, and this one is not ({note}); train it inside the service instead"
        )
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    return {
        "format": fmt,
        "algorithm": f"{IMPORTED_PREFIX}{type(estimator).__name__}",
        "params": params_jsonable(params=params),
        "classes": classes,
        "metrics": metrics,
        "importance": _importance(model),
        "onnx": base64.b64encode(onnx).decode("ascii"),
        "runtime_note": f"{note}, in the import sandbox",
        "audit": report,
    }


def _is_skops(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _load(request: dict, data: bytes):
    if _is_skops(data):
        import skops.io as sio

        # The archive's size, then every type against the allow-list, before anything is
        # extracted or built.
        allowed = artifacts.skops_check(data=data)
        try:
            return sio.loads(data, trusted=allowed), "skops"
        except Exception as exc:  # any file skops cannot rebuild is refused
            _memory(exc)
            raise Refused(f"the skops file could not be loaded: {exc}") from None
    pickle = request["pickle"]
    if not pickle["enabled"]:
        raise Refused(
            "only skops files (.skops) are accepted: joblib/pickle files can run code when "
            "loaded, and pickle import is off (setting ALLOW_PICKLE_IMPORT)"
        )
    if not pickle["superuser"]:
        raise Refused("only superusers may import joblib/pickle files")
    import joblib

    try:
        return joblib.load(io.BytesIO(data)), "joblib"
    except Exception as exc:  # any unreadable pickle is refused
        _memory(exc)
        raise Refused(f"the joblib/pickle file could not be loaded: {exc}") from None


def _classes(model, task: str) -> list | None:
    if task != Task.CLASSIFICATION:
        return None
    if not hasattr(model, "classes_"):
        raise Refused("a classifier must have classes_ (is it fitted?)")
    classes = np.asarray(model.classes_).tolist()
    if not all(isinstance(c, (str, int, float, bool)) for c in classes):
        raise Refused("a classifier's classes_ must be text or numbers")
    return classes


def _check_predicts(model, *, schema: list[dict], task: str) -> None:
    """The model answers a typical row of its declared schema, through the runtime."""
    sample = example_record(schema=schema)
    try:
        runtime.runtime_of(model=model, schema=schema, task=task).predict([sample])
    except Exception as exc:  # whatever breaks, the model does not fit its declared schema
        _memory(exc)
        raise Refused(
            f"the model failed to predict a sample row of the declared schema ({sample}): {exc}",
            field="features",
        ) from None


def _metrics(model, request: dict, task: str, classes) -> dict:
    """Marked as imported; scored on the dataset's rows when the parent sent them."""
    metrics = {"main": MAIN_METRIC[task], "imported": True}
    frame = request.get("frame")
    if frame is None:
        return metrics
    import pandas as pd

    from predictor.services.training.evaluate import evaluate
    from predictor.services.training.fit import split_features

    table = pd.DataFrame(frame["data"], columns=frame["columns"]).infer_objects()
    X_eval, y_eval = split_features(frame=table, target=request["target"], task=task)
    try:
        metrics.update(
            evaluate(pipeline=model, X_test=X_eval, y_test=y_eval, task=task, classes=classes)
        )
    except Exception as exc:  # a model that cannot be scored on its dataset is refused
        _memory(exc)
        raise Refused(f"the model could not be evaluated on the dataset: {exc}") from None
    metrics["n_test"] = len(X_eval)
    metrics["evaluated_on"] = request["dataset_name"]
    return metrics


def synthetic_rows(*, schema: list[dict], count: int = 300) -> list[dict]:
    """Rows to verify the graph on when no dataset was given: numbers spread over several
    scales around the typical row, categories from the schema's list (seeded: repeatable)."""
    generator = np.random.default_rng(0)
    base = example_record(schema=schema)
    rows = []
    for i in range(count):
        row = dict(base)
        scale = (0.1, 0.5, 1.0, 2.0)[i % 4]
        for feature in schema:
            name = feature["name"]
            if feature["type"] == "numeric":
                row[name] = round(float((base[name] or 0.0) + generator.normal() * scale), 6)
            elif feature.get("categories"):
                row[name] = str(generator.choice(feature["categories"]))
        rows.append(row)
    return rows


def _importance(model) -> list[dict] | None:
    try:
        return explain.importance_of(pipeline=model, top=50)
    except Exception:  # an explanation is a courtesy: a model without one still imports
        return None
