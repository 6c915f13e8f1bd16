"""Outside models run only in the import sandbox, and hostile values inside allow-listed
types are refused there, naming the attribute, before any prediction.

The imports go through the admin's import door (the only one), whose process plays the
server: it must survive every file, hold no trace of what a file could read, and serve an
imported model by its ONNX graph alone.
"""

import io
import json
import os
import subprocess
import sys
from collections import OrderedDict, defaultdict
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from predictor.models import ModelVersion, Prediction, Runtime
from predictor.services import registry
from predictor.services.registry import artifacts, audit, trusted_types
from predictor.services.registry.audit import AuditRefused
from predictor.tests import hostile_models

from ..conftest import client_for

ROOT = Path(__file__).resolve().parents[3]
SECRET = "s3cret-value-that-must-never-leave-the-server-0123456789"


def import_file(client, data: bytes, **fields):
    body = {
        "model_name": "outside",
        "task": "classification",
        "target": "y",
        "features": hostile_models.FEATURES,
        "file": SimpleUploadedFile("m.skops", data),
        **fields,
    }
    return client.post(reverse("admin:predictor_modelversion_import"), body)


def refused(response) -> str:
    page = response.content.decode()
    assert response.status_code == 200, page[-500:]
    assert "errorlist" in page
    assert not ModelVersion.objects.exists()
    return page.replace("&#x27;", "'")


def _audit(data: bytes):
    """Load a crafted file as the sandbox does (types first) and audit it, in this test."""
    model = sio.loads(data, trusted=artifacts.skops_check(data=data))
    return audit.audit(
        model=model,
        callable_types=trusted_types.trusted_types(),
        max_array_bytes=64 * 1024**2,
        max_total_bytes=200 * 1024**2,
    )


# --- the file-reading vectorizer ------------------------------------------------------------


def test_the_file_reading_vectorizer_really_reads_files(tmp_path):
    """The control: used as it is, the crafted pipeline answers with a file's text."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    _, model = hostile_models.file_reader()
    with pytest.raises(ValueError, match=SECRET):
        model.predict(pd.DataFrame({"path": [str(secret)], "x": [1.0]}))


BUILTIN_CALLABLES = [bool, bytearray, bytes, complex, dict, float, int, list, set, slice, str]
BUILTIN_CALLABLES += [tuple, OrderedDict, defaultdict]


@pytest.mark.parametrize("analyzer", BUILTIN_CALLABLES, ids=lambda c: c.__name__)
def test_every_allowed_builtin_as_an_analyzer_is_refused_by_the_audit(analyzer):
    data, _ = hostile_models.file_reader(analyzer=analyzer, source="content")
    artifacts.skops_check(data=data)  # every type is on the allow-list...
    with pytest.raises(AuditRefused) as refusal:  # ...and the value is refused
        _audit(data)
    assert refusal.value.path.endswith("transformers_[0][1].analyzer")


@pytest.mark.parametrize("source", ["filename", "file"])
def test_a_vectorizer_that_opens_files_is_refused_at_import(
    manager_client, tmp_path, caplog, source
):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    data, _ = hostile_models.file_reader(analyzer=float, source=source)
    page = refused(
        import_file(manager_client, data, features=hostile_models.TEXT_FEATURES, target="label")
    )
    assert "transformers_[0][1].input" in page and "only input='content'" in page
    assert SECRET not in page and SECRET not in caplog.text
    assert not list(Path(artifacts._root()).glob("*.skops"))


def test_a_function_transformer_with_an_allowed_function_is_refused(manager_client, settings):
    settings.SKOPS_TRUSTED_TYPES_EXTRA = ["numpy.log1p"]
    page = refused(import_file(manager_client, hostile_models.function_transformer()))
    assert "model.steps[0][1].func" in page and "log1p" in page


# --- trees, sparse matrices, neighbour trees: values that crash a process --------------------

CRASHING = {
    "calibrated": (hostile_models.calibrated_wild_tree, "calibrated_classifiers_[0].estimator"),
    "forest": (hostile_models.forest_wild_tree, "model.estimators_["),
    "boosting": (hostile_models.boosting_wild_tree, "model.estimators_["),
    "sparse_coef": (hostile_models.sparse_coef, "model.coef_"),
    "kd_tree": (hostile_models.broken_kd_tree, "model._tree.idx_array"),
}


def test_the_wild_tree_crashes_a_process_that_predicts_with_it(tmp_path):
    """The control: loaded without the audit, the calibrated tree kills its process."""
    path = tmp_path / "m.skops"
    path.write_bytes(hostile_models.calibrated_wild_tree())
    probe = (
        "import sys, numpy as np, skops.io as sio\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))\n"
        "model.predict_proba(np.random.RandomState(1).rand(200, 3))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True)
    assert done.returncode != 0


@pytest.mark.parametrize("label", sorted(CRASHING))
def test_values_that_crash_at_predict_are_refused_at_import(manager_client, label):
    build, where = CRASHING[label]
    pid = os.getpid()
    page = refused(import_file(manager_client, build()))
    assert where in page, page[-3000:]
    assert "out of range" in page or "malformed" in page
    assert os.getpid() == pid  # the importing process is alive and the same


@pytest.mark.parametrize(
    "megabytes, limit",
    [(256, "SANDBOX_MAX_UNCOMPRESSED_BYTES"), (96, "SANDBOX_MAX_COMPRESSION_RATIO")],
)
def test_a_zip_bomb_is_refused_before_it_is_unpacked(manager_client, megabytes, limit):
    data = hostile_models.zip_bomb(megabytes)
    assert len(data) < 1024**2  # a few hundred KB
    page = refused(import_file(manager_client, data))
    assert "unpacks to" in page and limit in page


# --- the sandbox itself ---------------------------------------------------------------------


class Probe:
    """A pickle that, when loaded, writes what its process sees (and then is no model)."""

    def __init__(self, out):
        self.out = str(out)

    def __reduce__(self):
        code = (
            "import os, json, resource\n"
            f"json.dump({{'env': dict(os.environ), 'cwd': os.getcwd(),"
            f" 'fds': sorted(os.listdir('/proc/self/fd')),"
            f" 'as': resource.getrlimit(resource.RLIMIT_AS)[0],"
            f" 'cpu': resource.getrlimit(resource.RLIMIT_CPU)[0],"
            f" 'fsize': resource.getrlimit(resource.RLIMIT_FSIZE)[0]}}, open({self.out!r}, 'w'))\n"
        )
        return (exec, (code,))


class Runs:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _pickle(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def test_the_sandbox_has_no_secrets_its_own_directory_and_limits(
    admin_client, settings, tmp_path, monkeypatch
):
    """A pickle (a superuser's, allowed by the setting) runs code in the sandbox: what that
    code sees is what any hostile file could reach there."""
    settings.ALLOW_PICKLE_IMPORT = True
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "PREDICTION_LOG_KEYS", "METRICS_TOKEN"):
        monkeypatch.setenv(name, SECRET)
    seen = tmp_path / "seen.json"
    page = refused(import_file(admin_client, _pickle(Probe(seen))))
    assert "no predict method" in page
    inside = json.loads(seen.read_text())
    assert SECRET not in json.dumps(inside["env"])
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL", "CACHE_URL"} & set(inside["env"])
    assert Path(inside["cwd"]).name.startswith("mlsite-sandbox-")
    assert not Path(inside["cwd"]).exists()  # removed after the import
    assert len(inside["fds"]) <= 4  # stdin, stdout, stderr and the listing itself
    assert inside["as"] == settings.SANDBOX_MEMORY_BYTES
    assert inside["cpu"] == settings.SANDBOX_CPU_SECONDS
    assert inside["fsize"] == settings.SANDBOX_FILE_BYTES


@pytest.mark.parametrize(
    "code, says",
    [
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed with signal SIGSEGV"),
        ("x = bytearray(3 * 1024**3)", "ran out of memory"),
        ("while True: pass", "SANDBOX_CPU_SECONDS"),
    ],
    ids=["crash", "memory", "cpu"],
)
def test_a_child_that_crashes_or_runs_out_ends_the_import_with_a_reason(
    admin_client, settings, code, says
):
    settings.ALLOW_PICKLE_IMPORT = True
    # The child's imports alone take 1-3 s of CPU on a busy machine: only the CPU case gets
    # a limit that short (the others would be cut by it before they crash or allocate).
    settings.SANDBOX_CPU_SECONDS = 4 if says == "SANDBOX_CPU_SECONDS" else 60
    settings.SANDBOX_MEMORY_BYTES = 1536 * 1024**2
    pid = os.getpid()
    page = refused(import_file(admin_client, _pickle(Runs(code))))
    assert says in page
    assert os.getpid() == pid


def test_a_child_past_its_time_is_killed(admin_client, settings):
    settings.ALLOW_PICKLE_IMPORT = True
    settings.SANDBOX_TIMEOUT_SECONDS = 3
    page = refused(import_file(admin_client, _pickle(Runs("import time; time.sleep(60)"))))
    assert "took longer than 3" in page


# --- legitimate models: imported, verified, served by ONNX alone ----------------------------


def _mixed_frame():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, 120).round(1),
            "age": rng.randint(18, 80, 120).astype(float),
            "housing": rng.choice(["own", "rent", "free"], 120),
        }
    )
    frame.loc[::7, "income"] = np.nan
    return frame, np.where(frame["age"] > 45, "yes", "no")


def _impute_scale_onehot_forest():
    frame, y = _mixed_frame()
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["income", "age"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["housing"]),
        ]
    )
    return make_pipeline(pre, RandomForestClassifier(n_estimators=10, random_state=0)).fit(frame, y)


MIXED = "income:numeric\nage:numeric\nhousing:categorical"


@pytest.mark.parametrize(
    "build, features",
    [
        (_impute_scale_onehot_forest, MIXED),
        (lambda: GradientBoostingClassifier(n_estimators=20, random_state=0).fit(*_xy()), None),
        (lambda: make_pipeline(StandardScaler(), _svc()).fit(*_xy()), None),
    ],
    ids=["impute-scale-onehot-forest", "gradient-boosting", "svc"],
)
def test_a_legitimate_model_imports_verifies_and_serves_by_onnx(
    manager_client, alice, build, features
):
    model = build()
    response = import_file(
        manager_client, sio.dumps(model), features=features or hostile_models.FEATURES
    )
    assert response.status_code == 302, response.content.decode()[-1500:]
    version = ModelVersion.objects.get(model__name="outside")
    assert version.runtime == Runtime.ONNX and "import sandbox" in version.runtime_note
    assert version.audit["status"] == "passed" and version.audit["objects"] > 3
    if not isinstance(model[-1] if hasattr(model, "steps") else model, CalibratedClassifierCV):
        assert version.importance and version.importance[0]["pct"] == 100.0
    assert version.artifact_format == "skops"  # kept as the provenance record
    row = (
        {"income": 52.0, "age": 60.0, "housing": "own"}
        if features
        else {"x1": 0.9, "x2": 0.1, "x3": 0.5}
    )
    api = client_for(alice)
    answer = api.post("/api/models/outside/predict/", {"inputs": row}, format="json")
    assert answer.status_code == 200, answer.json()
    frame = pd.DataFrame([row])
    assert answer.json()["predictions"] == [str(model.predict(frame)[0])]
    browser = Client()
    browser.force_login(alice)
    page = browser.get("/models/outside/").content.decode()
    if version.importance:
        assert version.importance[0]["label"] in page  # what drives it, recorded at import


def _svc():
    """An SVC with class probabilities as scikit-learn 1.9 recommends them."""
    return CalibratedClassifierCV(SVC(), method="sigmoid", cv=3, ensemble=False)


def _xy():
    X, y = hostile_models.numbers()
    return X, y.map({0: "low", 1: "high"})


def test_an_import_with_a_dataset_records_its_metrics(manager_client, iris_dataset):
    from predictor.tests.admin.test_admin import iris_pipeline

    response = import_file(
        manager_client,
        sio.dumps(iris_pipeline()),
        dataset=iris_dataset.pk,
        features="",
        target="",
    )
    assert response.status_code == 302, response.context["form"].errors
    version = ModelVersion.objects.get()
    assert version.metrics["accuracy"] > 0.9 and version.metrics["evaluated_on"] == "iris"
    assert "verified against scikit-learn on 1" in version.runtime_note  # the dataset's rows


def test_a_model_that_does_not_convert_is_refused_with_the_reason(manager_client):
    from sklearn.neighbors import NearestCentroid

    X, y = _xy()
    page = refused(import_file(manager_client, sio.dumps(NearestCentroid().fit(X, y))))
    assert "served only as a verified ONNX graph" in page and "NearestCentroid" in page


def test_the_server_never_loads_an_imported_file(manager_client, alice, monkeypatch):
    response = import_file(manager_client, sio.dumps(_impute_scale_onehot_forest()), features=MIXED)
    assert response.status_code == 302
    artifacts.cache_clear()

    def refuse(*args, **kwargs):
        raise AssertionError("skops loaded in the server")

    monkeypatch.setattr(sio, "loads", refuse)
    monkeypatch.setattr(sio, "load", refuse)
    row = {"income": 52.0, "age": 60.0, "housing": "own"}
    answer = client_for(alice).post("/api/models/outside/predict/", {"inputs": row}, format="json")
    assert answer.status_code == 200
    call_command("compile_models")
    with pytest.raises(Exception, match="not loaded by the server"):
        from predictor.services.serving.runtime import pipeline_for

        pipeline_for(version=ModelVersion.objects.get())


# --- versions imported before the sandbox -------------------------------------------------


def test_an_old_import_without_a_graph_serves_nowhere_and_is_listed(iris_version, staff, capsys):
    from predictor.tests.admin.test_admin import iris_pipeline

    old = registry.version_create(
        model=iris_version.model,
        stored=artifacts.artifact_store_bytes(data=sio.dumps(iris_pipeline()), fmt="skops"),
        algorithm="imported:Pipeline",
        schema=iris_version.schema,
        target_name="species",
        classes=iris_version.classes,
        runtime=Runtime.SKLEARN,
        runtime_note="no ONNX conversion (an older rule)",
    )
    api = client_for(staff)
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    response = api.post(
        f"/api/models/iris/versions/{old.version}/predict/", {"inputs": row}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["fault"] == "no verified ONNX graph"
    assert not Prediction.objects.filter(version=old).exists()
    with pytest.raises(CommandError, match="1 of 2 versions cannot load"):
        call_command("check_artifacts")
    assert f"iris v{old.version}" in capsys.readouterr().out


def test_check_artifacts_audits_old_imports_again_and_refuses_hostile_ones(
    manager_client, alice, capsys
):
    """An import of a good model gives a graph; a version made under an older rule with the
    same graph but a hostile file is served until the audit runs, then nowhere."""
    good = sio.dumps(GradientBoostingClassifier(n_estimators=5, random_state=0).fit(*_xy()))
    assert import_file(manager_client, good).status_code == 302
    first = ModelVersion.objects.get()
    hostile = artifacts.artifact_store_bytes(data=hostile_models.boosting_wild_tree(), fmt="skops")
    old = registry.version_create(
        model=first.model,
        stored=hostile,
        algorithm="imported:GradientBoostingClassifier",
        schema=first.schema,
        target_name="y",
        classes=first.classes,
        runtime=Runtime.ONNX,
        runtime_note="an older import",
        compiled_artifact=first.compiled_artifact,
        compiled_sha256=first.compiled_sha256,
    )
    api = client_for(alice)
    url = f"/api/models/outside/versions/{old.version}/predict/"
    row = {"inputs": {"x1": 0.9, "x2": 0.1, "x3": 0.5}}
    registry.version_promote(version=old, stage="staging", user=None, reason="test")
    assert api.post(url, row, format="json").status_code == 200
    with pytest.raises(CommandError, match="1 of 2 versions cannot load"):
        call_command("check_artifacts")
    out = capsys.readouterr().out
    assert f"outside v{old.version}" in out and "refused by audit" in out
    old.refresh_from_db()
    assert old.audit["status"] == "refused" and "out of range" in old.audit["reason"]
    response = api.post(url, row, format="json")
    assert response.status_code == 503 and response.json()["fault"] == "refused by audit"


def test_a_scaler_before_a_forest_verifies_on_every_row_of_its_dataset():
    """A pipeline that starts with a scaler takes the features one column each: skl2onnx
    would join them with FeatureVectorizer (float32) and a tree would then take the other
    branch at a threshold on iris' own rows; joined in double, every row agrees."""
    from sklearn.datasets import load_iris

    from predictor.services.serving.compiled.build import convert_verified
    from predictor.tests.admin.test_admin import iris_pipeline

    X, _ = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    schema = [{"name": n, "type": "numeric", "nullable": False} for n in X.columns]
    graph, note = convert_verified(
        pipeline=iris_pipeline(),
        schema=schema,
        task="classification",
        classes=["setosa", "versicolor", "virginica"],
        rows=X.to_dict("records"),
    )
    assert graph is not None, note
    assert note == "ONNX, verified against scikit-learn on 151 rows"
