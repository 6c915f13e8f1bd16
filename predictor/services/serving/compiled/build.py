"""A version's compiled runtime: convert its pipeline to ONNX, verify it against
scikit-learn, store it. A version whose compiled model does not convert or does not
verify is served by scikit-learn, and says why."""

import numpy as np
from django.db import transaction

from predictor.models import ModelVersion, Runtime, Task
from predictor.services.errors import VersionUnavailable
from predictor.services.registry import artifacts
from predictor.services.registry.datasets import dataset_frame
from predictor.services.schema import (
    CATEGORICAL,
    example_record,
    records_from_frame,
    rows_validate,
)
from predictor.services.serving import registrycache, runtime

TOLERANCE = 1e-5  # probabilities and regression values, absolute
MAX_ROWS = 2_000
UNSEEN = "__a category never seen in training__"


def verification_rows(*, schema: list[dict], rows: list[dict]) -> list[dict]:
    """The given rows, and beside them: each nullable feature missing, all of them
    missing, and each categorical feature with a category training never saw."""
    rows = list(rows)[:MAX_ROWS]
    base = dict(rows[0]) if rows else example_record(schema=schema)
    extra = [dict(base)]
    nullable = [f["name"] for f in schema if f.get("nullable", True)]
    for name in nullable:
        extra.append({**base, name: None})
    if nullable:
        extra.append({**base, **{name: None for name in nullable}})
    for feature in schema:
        if feature["type"] == CATEGORICAL:
            extra.append({**base, feature["name"]: UNSEEN})
    return rows + extra


def _tie(probabilities: dict | None, a, b) -> bool:
    """Two labels whose probabilities are equal (within the tolerance): either is right
    (a forest of 10 trees splits 5-5; the two runtimes break the tie differently)."""
    if probabilities is None:
        return False
    pa, pb = probabilities.get(str(a)), probabilities.get(str(b))
    return pa is not None and pb is not None and abs(pa - pb) <= TOLERANCE


def _difference(expected, got, task: str) -> str | None:
    """What differs between scikit-learn's answers and the compiled model's, or None."""
    if task == Task.CLASSIFICATION:
        wrong = sum(
            a != b and not _tie(p, a, b)
            for a, b, p in zip(
                expected.predictions,
                got.predictions,
                expected.probabilities or [None] * len(expected.predictions),
            )
        )
        if wrong:
            return f"labels differ on {wrong} of {len(expected.predictions)} rows"
        if (expected.probabilities is None) != (got.probabilities is None):
            return "one gives class probabilities, the other not"
        if expected.probabilities is None:
            return None
        a = np.array([[row[c] for c in sorted(row)] for row in expected.probabilities])
        b = np.array([[row[c] for c in sorted(row)] for row in got.probabilities])
    else:
        a, b = np.array(expected.predictions), np.array(got.predictions)
    worst = float(np.max(np.abs(a - b))) if a.size else 0.0
    if not worst <= TOLERANCE:
        return f"values differ by up to {worst:.2g} (the tolerance is {TOLERANCE:g})"
    return None


def convert_verified(*, pipeline, schema: list[dict], task: str, classes, rows):
    """(ONNX bytes, note) when the pipeline converts and agrees with scikit-learn on the
    verification rows, else (None, the reason). Stores nothing (the import sandbox runs it)."""
    # skl2onnx and onnx (about 55 MB of a process's memory) are imported by the processes
    # that compile, not by every server process.
    from predictor.services.serving.compiled.convert import pipeline_to_onnx

    try:
        data = pipeline_to_onnx(pipeline=pipeline, schema=schema)
        compiled = runtime.OnnxRuntime(
            artifacts.onnx_session(data=data), schema=schema, task=task, classes=classes
        )
    except Exception as exc:  # whatever the converter refuses, scikit-learn serves
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        return None, f"no ONNX conversion ({type(exc).__name__}: {reason})"
    checked = rows_validate(
        schema=schema,
        records=verification_rows(schema=schema, rows=rows),
        max_rows=MAX_ROWS + 1_000,
    ).records
    reference = runtime.runtime_of(model=pipeline, schema=schema, task=task)
    try:
        problem = _difference(reference.predict(checked), compiled.predict(checked), task)
    except Exception as exc:  # a compiled model that fails on a valid row is not served
        problem = f"it failed on a verification row ({type(exc).__name__}: {exc})"
    if problem:
        return None, f"the ONNX model was not served: {problem}"
    return data, f"ONNX, verified against scikit-learn on {len(checked)} rows"


def compile_pipeline(*, pipeline, schema: list[dict], task: str, classes, rows) -> dict:
    """The compiled-runtime fields of a new version: ONNX (stored, hash-named) when it
    converts and agrees with scikit-learn on the verification rows, else scikit-learn
    with the reason."""
    data, note = convert_verified(
        pipeline=pipeline, schema=schema, task=task, classes=classes, rows=rows
    )
    if data is None:
        return _sklearn(note)
    return onnx_fields(data=data, note=note)


def onnx_fields(*, data: bytes, note: str) -> dict:
    """Store a verified ONNX graph; the version fields that name it."""
    stored = artifacts.artifact_store_bytes(data=data, fmt="onnx")
    return {
        "runtime": Runtime.ONNX,
        "runtime_note": note,
        "compiled_artifact": stored.name,
        "compiled_sha256": stored.sha256,
    }


def _sklearn(note: str) -> dict:
    return {
        "runtime": Runtime.SKLEARN,
        "runtime_note": note,
        "compiled_artifact": "",
        "compiled_sha256": "",
    }


def sample_rows(*, version: ModelVersion, limit: int = 500) -> list[dict]:
    """Rows of the version's dataset to verify on (none when it has no dataset)."""
    if version.dataset is None:
        return []
    frame = dataset_frame(dataset=version.dataset)
    names = [f["name"] for f in version.schema]
    if any(name not in frame.columns for name in names):
        return []
    return records_from_frame(X=frame.head(limit), schema=version.schema)


def version_compile(*, version: ModelVersion) -> ModelVersion:
    """Compile a stored version that has no runtime yet (idempotent: a version's runtime is
    set once); the other server processes switch to it within a second."""
    if version.runtime:
        return version
    if version.is_imported:
        # Its file is opened in the import sandbox only: it is compiled there, or not at all.
        raise VersionUnavailable(
            f"{version} was imported: it is compiled only when imported, in the sandbox",
            model=version.model.name,
            version=version.version,
            fault="imported",
        )
    fields = compile_pipeline(
        pipeline=runtime.pipeline_for(version=version),
        schema=version.schema,
        task=version.model.task,
        classes=version.classes,
        rows=sample_rows(version=version),
    )
    with transaction.atomic():
        if ModelVersion.objects.filter(pk=version.pk, runtime="").update(**fields):
            registrycache.changed()
    version.refresh_from_db()
    return version
