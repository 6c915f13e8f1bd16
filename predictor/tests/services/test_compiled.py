"""The compiled (ONNX) runtime: the same answers as scikit-learn for every algorithm, or
scikit-learn with the reason; its artifact is hash-checked like any other."""

import warnings
from pathlib import Path

import pytest
import skops.io as sio
from django.core.management import call_command
from sklearn.datasets import load_iris
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from predictor.models import ModelVersion, Prediction, Runtime
from predictor.services.demo import credit_risk_frame
from predictor.services.errors import InvalidInput
from predictor.services.registry import artifacts, importing
from predictor.services.registry.datasets import dataset_create
from predictor.services.schema import rows_validate
from predictor.services.serving import inference, runtime
from predictor.services.serving.compiled.build import TOLERANCE, UNSEEN
from predictor.services.training import ALGORITHMS

from ..conftest import client_for, csv_bytes, train

ROW = {
    "age": 35.0,
    "income": None,
    "loan_amount": 4200.0,
    "duration_months": 12.0,
    "housing": None,
    "purpose": "education",
    "employment": "student",
}
FAST = {"random_forest": {"n_estimators": 15}, "gradient_boosting": {"n_estimators": 15}}


@pytest.fixture
def credit_regression(db):
    frame = credit_risk_frame(200).drop(columns=["risk"])
    return dataset_create(name="credit-amount", file=csv_bytes(frame), target="loan_amount")


@pytest.fixture
def credit_small(db):
    return dataset_create(name="credit", file=csv_bytes(credit_risk_frame(200)), target="risk")


def rows_to_check(schema):
    """Nulls, an unseen category, extremes: the rows a compiled model gets wrong first."""
    base = {f["name"]: ROW[f["name"]] for f in schema}
    rows = [dict(base)]
    for feature in schema:
        name = feature["name"]
        if feature["type"] == "numeric":
            rows.append({**base, name: feature["min"]})
            rows.append({**base, name: feature["max"] * 3})
        else:
            rows.append({**base, name: UNSEEN})
            rows += [{**base, name: c} for c in feature["categories"]]
    rows.append({f["name"]: None for f in schema})
    return rows_validate(schema=schema, records=rows, max_rows=1000).records


CASES = [(a, t) for a, tasks in ALGORITHMS.items() for t in tasks]


@pytest.mark.parametrize("algorithm, task", CASES)
def test_compiled_runtime_answers_as_scikit_learn(algorithm, task, credit_small, credit_regression):
    dataset = credit_small if task == "classification" else credit_regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        version = train(dataset, model="m", algorithm=algorithm, params=FAST.get(algorithm, {}))
    assert version.runtime == Runtime.ONNX, version.runtime_note
    assert version.compiled_sha256 and "verified" in version.runtime_note
    served = runtime.runtime_for(version=version)
    assert served.kind == "onnx"
    truth = runtime.SklearnRuntime(
        runtime.pipeline_for(version=version), schema=version.schema, task=version.model.task
    )
    records = rows_to_check(version.schema)
    expected, got = truth.predict(records), served.predict(records)
    if task == "classification":
        assert got.predictions == expected.predictions
        for a, b in zip(expected.probabilities, got.probabilities):
            assert a.keys() == b.keys()
            assert max(abs(a[k] - b[k]) for k in a) <= TOLERANCE
    else:
        assert max(abs(a - b) for a, b in zip(expected.predictions, got.predictions)) <= TOLERANCE


def test_an_imported_model_that_cannot_convert_is_refused_with_its_note(db, alice):
    """The contract: an imported version serves by its verified ONNX graph only, so one
    that does not convert is refused (it used to be served by scikit-learn)."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X.columns = names
    model = make_pipeline(StandardScaler(), NearestCentroid()).fit(X, y)
    with pytest.raises(InvalidInput) as refusal:
        importing.version_import(
            model_name="centroid",
            task="regression",  # integer labels as values: NearestCentroid has no probabilities
            data=sio.dumps(model),
            user=None,
            target="species",
            features="\n".join(f"{n}:numeric" for n in names),
        )
    assert "no ONNX conversion" in refusal.value.message
    assert "NearestCentroid" in refusal.value.message
    assert not ModelVersion.objects.exists()
    response = client_for(alice).post(
        "/api/models/centroid/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]}, format="json"
    )
    assert response.status_code == 404


def test_a_tampered_onnx_artifact_is_refused_like_a_joblib_one(iris_version, alice, settings):
    assert iris_version.runtime == Runtime.ONNX
    path = Path(settings.ARTIFACT_ROOT) / iris_version.compiled_artifact
    path.write_bytes(path.read_bytes() + b"\x00")
    artifacts.cache_clear()
    response = client_for(alice).post(
        "/api/models/iris/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["fault"] == "hash mismatch"
    assert iris_version.compiled_artifact in response.json()["detail"]
    assert not Prediction.objects.exists()


def test_compile_models_builds_old_versions_once(iris_version, capsys):
    # A version made before compiled runtimes existed: the same pipeline, no runtime yet.
    fields = {
        f.name: getattr(iris_version, f.name)
        for f in ModelVersion._meta.concrete_fields
        if f.name not in ("id", "version", "stage", "created_at")
    }
    fields.update(runtime="", runtime_note="", compiled_artifact="", compiled_sha256="")
    old = ModelVersion.objects.create(version=2, stage="none", **fields)
    call_command("compile_models")
    assert "1 of 1 version(s) compiled" in capsys.readouterr().out
    version = ModelVersion.objects.get(pk=old.pk)
    assert version.runtime == Runtime.ONNX and version.compiled_sha256
    call_command("compile_models")
    assert "0 of 0 version(s) compiled" in capsys.readouterr().out
    result = inference.predict(
        version=version, records=[dict(zip(version.feature_names, [5.1, 3.5, 1.4, 0.2]))]
    )
    assert result.predictions == ["setosa"]
