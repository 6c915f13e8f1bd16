"""A loaded version that predicts: the one place that turns an artifact into a callable.

`runtime_for(version)` gives a runtime whose `predict(records)` returns the labels (or
values) and the class probabilities of a batch of validated records in one pass: the
compiled ONNX model when the version has one that passed verification (`compiled/`), else
its scikit-learn pipeline. Inference and batch scoring come through here. For a version
trained here the scikit-learn pipeline stays the source of truth (`pipeline_for`:
explanations, evaluation, verification of the compiled model). An imported version is
served by its verified ONNX graph only: its own file is never loaded by a server process
(it was opened in the import sandbox, `registry.sandbox`), and one without a graph, or one
that a later audit refused, serves nowhere (503).

Cache: loaded artifacts are kept per process by their sha256 (`artifacts`); a version's
artifact never changes, so nothing invalidates an entry; `artifacts.cache_clear()` resets
it for tests.
"""

from dataclasses import dataclass

import numpy as np

from predictor.models import ModelVersion, Runtime, Task
from predictor.services.errors import ArtifactIntegrityError, VersionUnavailable
from predictor.services.registry import artifacts
from predictor.services.schema import NUMERIC, frame_from_records


@dataclass
class Output:
    predictions: list
    probabilities: list[dict] | None
    # The rows (0-based) whose output is not a finite number: inputs far outside the
    # training range can overflow a model, and such a row can be neither stored nor
    # answered as JSON. The caller refuses them.
    nonfinite: tuple = ()


def _nonfinite(values, also: tuple = ()) -> tuple:
    finite = np.isfinite(np.asarray(values, dtype=np.float64))
    if finite.all() and not also:
        return ()
    found = np.flatnonzero(~finite.reshape(finite.shape[0], -1).all(axis=1)).tolist()
    return tuple(sorted({*found, *also}))


def _native(value):
    return value.item() if isinstance(value, np.generic) else value


class SklearnRuntime:
    """A fitted scikit-learn pipeline (or bare estimator) over the version's schema."""

    kind = "sklearn"

    def __init__(self, model, *, schema: list[dict], task: str):
        self.model = model
        self.schema = schema
        self.task = task
        self.has_probabilities = task == Task.CLASSIFICATION and hasattr(model, "predict_proba")

    def predict(self, records: list[dict]) -> Output:
        frame = frame_from_records(schema=self.schema, records=records)
        steps = getattr(self.model, "steps", None)
        overflowed = ()
        if steps and len(steps) > 1:
            # Preprocess once; the estimator then gives labels and probabilities.
            features, estimator = self.model[:-1].transform(frame), steps[-1][1]
            features, overflowed = _finite_features(features)
        else:
            features, estimator = frame, self.model
        raw = estimator.predict(features)
        predicted = [_native(v) for v in raw]
        if not self.has_probabilities:
            if self.task == Task.REGRESSION:
                predicted = [float(v) for v in predicted]
                nonfinite = _nonfinite(raw, overflowed)
                return Output(predictions=predicted, probabilities=None, nonfinite=nonfinite)
            return Output(predictions=predicted, probabilities=None, nonfinite=overflowed)
        classes = [str(_native(c)) for c in estimator.classes_]
        proba = estimator.predict_proba(features)
        probabilities = [{c: round(float(p), 6) for c, p in zip(classes, row)} for row in proba]
        return Output(
            predictions=predicted,
            probabilities=probabilities,
            nonfinite=_nonfinite(proba, overflowed),
        )


def _finite_features(features) -> tuple:
    """Preprocessed features with the rows that overflowed (a finite input far outside the
    training range can scale to infinity) set to 0, and those rows: scikit-learn refuses a
    whole call for one such row, and the caller refuses only the rows' own requests."""
    from scipy import sparse

    if sparse.issparse(features):
        if features.dtype.kind != "f" or np.isfinite(features.data).all():
            return features, ()
        coo = features.tocoo()
        rows = np.unique(coo.row[~np.isfinite(coo.data)])
        features = features.copy()
        features.data[~np.isfinite(features.data)] = 0.0
        return features, tuple(rows.tolist())
    if not isinstance(features, np.ndarray) or features.dtype.kind != "f":
        return features, ()
    finite = np.isfinite(features).reshape(features.shape[0], -1).all(axis=1)
    if finite.all():
        return features, ()
    features = features.copy()
    features[~finite] = 0.0
    return features, tuple(np.flatnonzero(~finite).tolist())


class OnnxRuntime:
    """A version's compiled model: validated values go straight into the session's input
    arrays (float64 for numbers, NaN when missing; text, "" when missing), no pandas."""

    kind = "onnx"

    def __init__(self, session, *, schema: list[dict], task: str, classes: list | None):
        self.session = session
        self.task = task
        self.features = [(f["name"], f["type"] == NUMERIC) for f in schema]
        self.has_probabilities = task == Task.CLASSIFICATION
        self.classes = [str(c) for c in classes or []]
        # The model gives labels as text or int64; answer with the classes as trained.
        self.label_of = {_label_key(c): c for c in classes or []}

    def predict(self, records: list[dict]) -> Output:
        feeds = {}
        for name, numeric in self.features:
            if numeric:
                values = [np.nan if r[name] is None else r[name] for r in records]
                feeds[name] = np.array(values, dtype=np.float64).reshape(-1, 1)
            else:
                values = ["" if r[name] is None else r[name] for r in records]
                feeds[name] = np.array(values, dtype=object).reshape(-1, 1)
        outputs = self.session.run(None, feeds)
        if self.task != Task.CLASSIFICATION:
            values = outputs[0].ravel()
            return Output(
                predictions=values.tolist(), probabilities=None, nonfinite=_nonfinite(values)
            )
        raw = outputs[0].ravel().tolist()
        label_of = {v: self.label_of[_label_key(v)] for v in set(raw)}  # once per class
        labels = list(map(label_of.__getitem__, raw))
        # Rounded by numpy (as round() does: to even at a tie), one dict per row.
        classes = self.classes
        proba = np.asarray(outputs[1], dtype=np.float64)
        probabilities = [dict(zip(classes, row)) for row in np.round(proba, 6).tolist()]
        return Output(predictions=labels, probabilities=probabilities, nonfinite=_nonfinite(proba))


def _label_key(value) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def runtime_of(*, model, schema: list[dict], task: str) -> SklearnRuntime:
    """A runtime around a model in hand (import verification, before it is stored)."""
    return SklearnRuntime(model, schema=schema, task=task)


def pipeline_for(*, version: ModelVersion):
    """The fitted pipeline of a version trained here (hash-checked, cached per process).

    A version whose artifact cannot be loaded raises VersionUnavailable (503), naming the
    model, the version and the fault; other versions are not affected. An imported version's
    file is never loaded here.
    """
    if version.is_imported:
        raise _unavailable(
            version,
            ArtifactIntegrityError(
                "an imported model is not loaded by the server (it serves by its ONNX graph)",
                fault="imported",
            ),
        )
    try:
        return artifacts.artifact_load(
            name=version.artifact, sha256=version.sha256, fmt=version.artifact_format
        )
    except ArtifactIntegrityError as exc:
        raise _unavailable(version, exc) from None


def _unavailable(version: ModelVersion, exc: ArtifactIntegrityError) -> VersionUnavailable:
    return VersionUnavailable(
        f"model {version.model.name!r} version {version.version} cannot serve: {exc.message}",
        model=version.model.name,
        version=version.version,
        fault=exc.fault,
    )


def _audit_check(version: ModelVersion) -> None:
    if version.audit.get("status") == "refused":
        raise ArtifactIntegrityError(
            f"the import audit refused it: {version.audit.get('reason', '')}",
            fault="refused by audit",
        )


def imported_check(*, version: ModelVersion) -> None:
    """An imported version serves only by an ONNX graph that passed the sandbox's audit;
    its stored file is hash-checked and, for skops, its types read (nothing built)."""
    _audit_check(version)
    data = artifacts.artifact_read_verified(name=version.artifact, sha256=version.sha256)
    if version.artifact_format == "skops":
        artifacts.skops_check(data=data)
    if version.runtime != Runtime.ONNX:
        raise ArtifactIntegrityError(
            "an imported model serves only by a verified ONNX graph and this one has none "
            "(import it again, or train it here)",
            fault="no verified ONNX graph",
        )


def runtime_for(*, version: ModelVersion) -> SklearnRuntime | OnnxRuntime:
    """The runtime that serves a version (VersionUnavailable when it cannot load)."""
    if not version.is_imported and version.runtime != Runtime.ONNX:
        return SklearnRuntime(
            pipeline_for(version=version), schema=version.schema, task=version.model.task
        )
    try:
        if version.is_imported:
            _audit_check(version)  # every time: a later audit may refuse it
            if version.sha256 not in artifacts.checked_imports:
                imported_check(version=version)
                artifacts.checked_imports.add(version.sha256)
        else:
            # The pipeline it was compiled from must be intact too: a version is one whole.
            artifacts.artifact_check(name=version.artifact, sha256=version.sha256)
        session = artifacts.artifact_load(
            name=version.compiled_artifact, sha256=version.compiled_sha256, fmt="onnx"
        )
    except ArtifactIntegrityError as exc:
        raise _unavailable(version, exc) from None
    return OnnxRuntime(
        session, schema=version.schema, task=version.model.task, classes=version.classes
    )


def versions_unloadable(*, versions) -> list[tuple[ModelVersion, str, str]]:
    """(version, fault, message) for each version whose artifacts would not load now."""
    broken = []
    for version in versions:
        try:
            if version.is_imported:
                imported_check(version=version)
                artifacts.artifact_verify(
                    name=version.compiled_artifact, sha256=version.compiled_sha256, fmt="onnx"
                )
                continue
            artifacts.artifact_verify(
                name=version.artifact, sha256=version.sha256, fmt=version.artifact_format
            )
            if version.runtime == Runtime.ONNX:
                artifacts.artifact_verify(
                    name=version.compiled_artifact, sha256=version.compiled_sha256, fmt="onnx"
                )
        except ArtifactIntegrityError as exc:
            broken.append((version, exc.fault, exc.message))
    return broken
