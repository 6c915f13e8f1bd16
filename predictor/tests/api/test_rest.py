import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, Stage, StageTransition, TrainingJob
from predictor.services import registry

from ..conftest import client_for, csv_bytes, iris_frame, train

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VERSICOLOR = {"sepal_length": 6.7, "sepal_width": 3.1, "petal_length": 4.4, "petal_width": 1.4}
URL = "/api/models/iris/predict/"


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def private_version(iris_dataset):
    """A second, non-public model."""
    return train(iris_dataset, model="secret", algorithm="knn")


# --- prediction body shapes -----------------------------------------------------------------

SHAPES = [
    {"inputs": SETOSA},
    {"inputs": [SETOSA, VERSICOLOR]},
    {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]]},
    {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]]},
    {"instances": [SETOSA, VERSICOLOR]},
    {
        "dataframe_split": {
            "columns": list(SETOSA),
            "data": [list(SETOSA.values()), list(VERSICOLOR.values())],
        }
    },
    {
        "dataframe_split": {
            "columns": list(reversed(SETOSA)),
            "data": [list(reversed(SETOSA.values()))],
        }
    },
    {"dataframe_records": [SETOSA, VERSICOLOR]},
]


@pytest.mark.parametrize("body", SHAPES)
def test_every_body_shape_predicts(iris_version, anon_client, body):
    response = post(anon_client, URL, body)
    assert response.status_code == 200, response.json()
    data = response.json()
    expected = ["setosa", "versicolor"][: len(data["predictions"])]
    assert data["model"] == "iris" and data["version"] == 1
    assert data["predictions"] == expected
    assert len(data["probabilities"]) == len(expected)
    assert data["probabilities"][0]["setosa"] > 0.8
    assert abs(sum(data["probabilities"][0].values()) - 1) < 1e-6
    logged = Prediction.objects.filter(pk__in=data["prediction_ids"]).order_by("pk")
    assert [p.output for p in logged] == expected and all(p.source == "api" for p in logged)
    assert logged[0].inputs == SETOSA and logged[0].probabilities == data["probabilities"][0]


def test_classic_tutorial_client_call(iris_version, live_server):
    import requests

    response = requests.post(
        live_server.url + URL,
        json={"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]]},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["predictions"] == ["setosa", "versicolor"]
    assert response.headers["X-Request-ID"]


def test_csv_body_and_version_query(iris_dataset, alice_client):
    train(iris_dataset)
    # API.md "Stages": an unstaged version serves staff only; staging serves every user.
    registry.version_promote(version=train(iris_dataset, algorithm="knn"), stage=Stage.STAGING)
    body = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.1,4.4,1.4\n"
    response = alice_client.post(URL + "?version=2", body, content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response.json()["predictions"] == [
        "setosa",
        "versicolor",
    ]
    response = post(alice_client, "/api/models/iris/versions/2/predict/", {"inputs": SETOSA})
    assert response.json()["version"] == 2


def test_null_is_imputed_and_unseen_categories_warn(credit_dataset, alice_client):
    train(credit_dataset, model="credit", algorithm="knn")
    row = {
        "age": 40,
        "income": None,
        "loan_amount": 1000,
        "duration_months": 12,
        "housing": "castle",
        "purpose": "car",
        "employment": "employed",
    }
    response = post(alice_client, "/api/models/credit/predict/", {"inputs": row})
    assert response.status_code == 200
    # The contract's warnings are values far outside the training range; an unseen
    # category is simply ignored by the pipeline (the batch page still mentions it).
    assert "warnings" not in response.json()
    far = {**row, "housing": "own", "income": 1e9}
    answer = post(alice_client, "/api/models/credit/predict/", {"inputs": [row, far]}).json()
    assert answer["warnings"][0] == []
    (warning,) = answer["warnings"][1]
    assert warning["feature"] == "income" and warning["value"] == 1e9
    assert warning["min"] < warning["max"] < 1e9


def test_regression_predictions_are_numbers(diabetes_dataset, alice_client):
    version = train(diabetes_dataset, model="diabetes", algorithm="ridge")
    row = {f["name"]: f["mean"] for f in version.schema}
    data = post(alice_client, "/api/models/diabetes/predict/", {"inputs": [row, row]}).json()
    assert isinstance(data["predictions"][0], float) and "probabilities" not in data


# --- bad bodies -----------------------------------------------------------------------------

ROW = [5.1, 3.5, 1.4, 0.2]
BAD_BODIES = [
    ({"data": [[5.1, 3.5, 1.4]]}, "row 1: expected 4 values"),
    ({"data": [ROW, [1, 2, 3, 4, 5]]}, "row 2: expected 4 values"),
    ({"inputs": {**SETOSA, "colour": "red"}}, "unknown feature 'colour'"),
    (
        {"inputs": {k: v for k, v in SETOSA.items() if k != "petal_width"}},
        "row 1: feature 'petal_width' is missing",
    ),
    (
        {"inputs": [SETOSA, SETOSA, {**SETOSA, "petal_width": "wide"}]},
        "row 3: feature 'petal_width' must be a number",
    ),
    ({"inputs": {**SETOSA, "sepal_length": "NaN"}}, "must be a number"),
    ({"inputs": {**SETOSA, "sepal_length": "inf"}}, "must be a number"),
    ({"inputs": {**SETOSA, "sepal_length": "5.1"}}, "must be a number"),
    ({"inputs": {**SETOSA, "sepal_length": "٥"}}, "must be a number"),
    ({"inputs": {**SETOSA, "sepal_length": True}}, "got a boolean"),
    ({"inputs": {**SETOSA, "sepal_length": [5.1]}}, "got a list"),
    ({"inputs": {**SETOSA, "sepal_length": {"v": 5.1}}}, "got an object"),
    ({"inputs": {**SETOSA, "sepal_length": "x" * 100_000}}, "must be a number"),
    ({"data": [[[5.1], 3.5, 1.4, 0.2]]}, "got a list"),
    ({}, "exactly one of"),
    ([], "must be a JSON object"),
    ("hello", "must be a JSON object"),
    (None, "must be a JSON object"),
    ({"inputs": []}, "empty batch"),
    ({"data": []}, "empty batch"),
    ({"inputs": SETOSA, "data": [ROW]}, "exactly one of"),
    ({"input": SETOSA}, "unknown key(s) 'input'"),
    ({"inputs": 5}, "'inputs' must be"),
    ({"data": ROW}, "row 1: expected a list"),
    ({"dataframe_split": {"columns": ["a"]}}, "'dataframe_split' must be"),
    ({"dataframe_split": {"columns": ["a", "a"], "data": []}}, "twice"),
    ({"inputs": ["not a record"]}, "row 1: each item"),
]


@pytest.mark.parametrize("body,message", BAD_BODIES)
def test_bad_bodies_are_400_and_nothing_is_logged(iris_version, anon_client, body, message):
    response = post(anon_client, URL, body)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert Prediction.objects.count() == 0


RAW_BAD = [
    (
        '{"inputs": {"sepal_length": NaN, "sepal_width": 1, "petal_length": 1, "petal_width": 1}}',
        "NaN is not valid JSON",
    ),
    (
        '{"inputs": {"sepal_length": Infinity, "sepal_width": 1, "petal_length": 1, "petal_width": 1}}',
        "Infinity",
    ),
    (
        '{"inputs": {"sepal_length": 1e400, "sepal_width": 1, "petal_length": 1, "petal_width": 1}}',
        "finite number",
    ),
    ('{"data": [[5.1, 3.5, 1.4, 0.2]', "JSON parse error"),
    ("", "exactly one of"),
    ('{"data": ' + "[" * 5000 + "]" * 5000 + "}", "nested"),
    ('{"a": ' * 100 + "1" + "}" * 100, "nested"),
]


@pytest.mark.parametrize("raw,message", RAW_BAD)
def test_malformed_json_is_400(iris_version, anon_client, raw, message):
    response = anon_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert message in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_deep_nesting_in_a_value_is_refused(iris_version, anon_client):
    body = '{"data": [[' + "[" * 60 + "]" * 60 + ", 1, 1, 1]]}"
    response = anon_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400 and Prediction.objects.count() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(iris_version, anon_client, content_type):
    response = anon_client.post(URL, "data=1", content_type=content_type)
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_batch_over_the_row_limit(iris_version, anon_client, settings):
    settings.PREDICT_MAX_ROWS = 5
    response = post(anon_client, URL, {"data": [ROW] * 6})
    assert (
        response.status_code == 400
        and "too many rows: 6, the limit is 5" in response.json()["detail"]
    )
    assert post(anon_client, URL, {"data": [ROW] * 5}).status_code == 200


def test_body_over_the_cap_is_json_413(iris_version, anon_client, settings):
    settings.REQUEST_MAX_BODY_BYTES = 2000
    response = post(anon_client, URL, {"data": [ROW] * 200})
    assert response.status_code == 413
    assert "limit is 2000 bytes" in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_unknown_model_and_version_are_404(iris_version, anon_client, alice_client):
    assert post(anon_client, "/api/models/nope/predict/", {"data": [ROW]}).status_code == 404
    response = post(alice_client, "/api/models/iris/versions/9/predict/", {"data": [ROW]})
    assert response.status_code == 404 and "no version 9" in response.json()["detail"]
    assert alice_client.get("/api/models/iris/versions/9/").status_code == 404
    assert post(alice_client, URL + "?version=x", {"data": [ROW]}).status_code == 400


def test_no_production_version_is_409(iris_version, staff, alice_client):
    from predictor.services.registry import version_promote

    version_promote(version=iris_version, stage="archived", user=staff, reason="retired")
    response = post(alice_client, URL, {"data": [ROW]})
    assert response.status_code == 409 and "no production version" in response.json()["detail"]


def test_paths_without_trailing_slash_work(iris_version, anon_client):
    assert anon_client.get("/api/models").status_code == 200
    response = post(anon_client, "/api/models/iris/predict", {"data": [ROW]})
    assert response.status_code == 200 and response.json()["predictions"] == ["setosa"]
    assert anon_client.get("/api/nothing-here").status_code == 404
    assert anon_client.get("/api/nothing-here").json()["detail"]


# --- roles ----------------------------------------------------------------------------------


def test_models_list_shows_what_each_caller_may_use(
    iris_version, private_version, anon_client, alice_client
):
    anon = anon_client.get("/api/models/").json()
    assert [m["name"] for m in anon] == ["iris"] and anon[0]["production_version"] == 1
    assert [m["name"] for m in alice_client.get("/api/models/").json()] == ["iris", "secret"]
    detail = alice_client.get("/api/models/iris/").json()
    assert (
        detail["versions"][0]["version"] == 1
        and detail["versions"][0]["main_metric"]["name"] == "accuracy"
    )


def test_anonymous_callers_need_login_for_private_models(
    private_version, anon_client, alice_client
):
    assert post(anon_client, "/api/models/secret/predict/", {"data": [ROW]}).status_code == 401
    assert anon_client.get("/api/models/secret/").status_code == 401
    assert anon_client.get("/api/models/secret/versions/").status_code == 401
    assert post(alice_client, "/api/models/secret/predict/", {"data": [ROW]}).status_code == 200
    bad_token = client_for()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert post(bad_token, "/api/models/secret/predict/", {"data": [ROW]}).status_code == 401


def test_session_login_works_for_the_api(private_version, alice, client):
    client.force_login(alice)
    response = client.post(
        "/api/models/secret/predict/", {"data": [ROW]}, content_type="application/json"
    )
    assert response.status_code == 200


STAFF_ENDPOINTS = [
    ("get", "/api/datasets/"),
    ("get", "/api/datasets/1/"),
    ("post", "/api/datasets/"),
    ("get", "/api/training-jobs/1/"),
    ("get", "/api/training-jobs/"),
    ("post", "/api/models/iris/versions/1/promote/"),
    ("post", "/api/training-jobs/"),
]


@pytest.mark.parametrize("method,url", STAFF_ENDPOINTS)
def test_management_needs_staff(iris_version, anon_client, alice_client, method, url):
    assert getattr(anon_client, method)(url).status_code == 401
    assert getattr(alice_client, method)(url).status_code == 403


def test_role_matrix_on_read_endpoints(
    iris_version, private_version, anon_client, alice_client, staff_client
):
    for url in [
        "/api/models/",
        "/api/models/iris/",
        "/api/models/iris/versions/",
        "/api/models/iris/versions/1/",
    ]:
        for c in (anon_client, alice_client, staff_client):
            assert c.get(url).status_code == 200, url
    for url in ["/api/predictions/"]:
        assert anon_client.get(url).status_code == 401
        assert alice_client.get(url).status_code == 200
    assert staff_client.get("/api/datasets/").status_code == 200


def test_versions_newest_first_with_details(iris_dataset, alice_client, staff_client):
    train(iris_dataset)
    train(iris_dataset, algorithm="knn")
    versions = alice_client.get("/api/models/iris/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]
    one = alice_client.get("/api/models/iris/versions/1/").json()
    assert one["stage"] == "production" and len(one["sha256"]) == 64
    assert one["schema"][0]["name"] == "sepal_length" and one["metrics"]["accuracy"] > 0.9
    assert one["library_versions"]["scikit-learn"] and one["params"]["max_iter"] == 2000
    assert one["training_job"] and "reference_stats" not in one  # staff only (issue 31)
    staff_view = staff_client.get("/api/models/iris/versions/1/").json()
    assert staff_view["reference_stats"]["petal_width"]["counts"]


# --- history and feedback -------------------------------------------------------------------


def test_users_see_only_their_own_history(iris_version, alice_client, bob_client, staff_client):
    a = post(alice_client, URL, {"data": [ROW, ROW]}).json()["prediction_ids"]
    b = post(bob_client, URL, {"data": [ROW]}).json()["prediction_ids"]
    alice_history = alice_client.get("/api/predictions/").json()
    assert [p["id"] for p in alice_history["results"]] == sorted(a, reverse=True)
    assert alice_history["results"][0]["user"] == "alice"
    staff_history = staff_client.get("/api/predictions/").json()
    assert len(staff_history["results"]) == 3 and "count" not in staff_history
    assert bob_client.get(f"/api/predictions/{a[0]}/").status_code == 404
    assert alice_client.get(f"/api/predictions/{a[0]}/").status_code == 200
    assert staff_client.get(f"/api/predictions/{b[0]}/").status_code == 200
    assert (
        post(bob_client, f"/api/predictions/{a[0]}/feedback/", {"actual": "setosa"}).status_code
        == 404
    )
    assert alice_client.get("/api/predictions/999999/").status_code == 404


def test_history_filters_and_pagination(iris_dataset, alice_client, settings):
    train(iris_dataset)
    registry.version_promote(version=train(iris_dataset, algorithm="knn"), stage=Stage.STAGING)
    post(alice_client, URL, {"data": [ROW] * 3})
    post(alice_client, URL + "?version=2", {"data": [ROW] * 2})
    old = Prediction.objects.order_by("pk").first()
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def ids(query):
        response = alice_client.get("/api/predictions/" + query)
        assert response.status_code == 200, response.content
        return len(response.json()["results"])

    assert ids("") == 5
    assert ids("?model=iris&version=2") == 2
    assert ids("?version=1") == 3
    assert ids("?model=nosuchmodel") == 0
    assert ids("?source=api") == 5 and ids("?source=web") == 0
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert len(alice_client.get("/api/predictions/", {"since": since}).json()["results"]) == 4
    assert len(alice_client.get("/api/predictions/", {"until": since}).json()["results"]) == 1
    assert alice_client.get("/api/predictions/?since=yesterday").status_code == 400
    assert alice_client.get("/api/predictions/?source=carrier-pigeon").status_code == 400
    # Pages by cursor: two rows a page, newest first, `next` to the end and `previous` back.
    first = alice_client.get("/api/predictions/?page_size=2").json()
    assert first["previous"] is None and len(first["results"]) == 2
    second = alice_client.get(first["next"]).json()
    third = alice_client.get(second["next"]).json()
    assert third["next"] is None and len(third["results"]) == 1
    walked = [p["id"] for page in (first, second, third) for p in page["results"]]
    expected = list(Prediction.objects.order_by("-created_at", "-id").values_list("id", flat=True))
    assert walked == expected
    back = alice_client.get(third["previous"]).json()
    assert [p["id"] for p in back["results"]] == [p["id"] for p in second["results"]]
    for bad in ("page_size=0", "page_size=1001", "page_size=ten", "cursor=bm90IGEgY3Vyc29y"):
        response = alice_client.get("/api/predictions/?" + bad)
        assert response.status_code == 400, bad
        assert bad.split("=")[0] in str(response.json()), response.json()
    assert alice_client.get("/api/predictions/?page=2").status_code == 400  # no page numbers


def test_history_csv_export(iris_version, alice_client):
    post(alice_client, URL, {"data": [ROW, [6.7, 3.1, 4.4, 1.4]]})
    response = alice_client.get("/api/predictions/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,created_at,model,version,source,user,output")
    assert len(lines) == 3 and ",versicolor," in lines[1]


def test_feedback_is_validated_and_stored(iris_version, diabetes_dataset, alice_client):
    pid = post(alice_client, URL, {"data": [ROW]}).json()["prediction_ids"][0]
    url = f"/api/predictions/{pid}/feedback/"
    for bad in ["rose", 1, None, True, ["setosa"]]:
        response = post(alice_client, url, {"actual": bad})
        assert response.status_code == 400, bad
        assert "one of the model's classes" in response.json()["detail"]
    assert post(alice_client, url, {}).status_code == 400
    response = post(alice_client, url, {"actual": "versicolor"})
    assert response.status_code == 200 and response.json()["actual"] == "versicolor"
    stored = Prediction.objects.get(pk=pid)
    assert stored.actual == "versicolor" and stored.actual_at is not None

    version = train(diabetes_dataset, model="diabetes", algorithm="ridge")
    row = {f["name"]: f["mean"] for f in version.schema}
    rid = post(alice_client, "/api/models/diabetes/predict/", {"inputs": row}).json()[
        "prediction_ids"
    ][0]
    for bad in ["12", True, None]:
        assert (
            post(alice_client, f"/api/predictions/{rid}/feedback/", {"actual": bad}).status_code
            == 400
        )
    assert (
        alice_client.post(
            f"/api/predictions/{rid}/feedback/",
            '{"actual": Infinity}',
            content_type="application/json",
        ).status_code
        == 400
    )
    assert (
        post(alice_client, f"/api/predictions/{rid}/feedback/", {"actual": 151.5}).json()["actual"]
        == 151.5
    )


# --- promote --------------------------------------------------------------------------------


def test_promote_through_the_api_records_who_and_why(iris_dataset, staff, staff_client):
    train(iris_dataset)
    train(iris_dataset, algorithm="knn")
    url = "/api/models/iris/versions/2/promote/"
    assert post(staff_client, url, {"stage": "live", "reason": "x"}).status_code == 400
    assert post(staff_client, url, {"stage": "production"}).status_code == 400
    response = post(staff_client, url, {"stage": "production", "reason": "knn wins on recall"})
    assert response.status_code == 200 and response.json()["stage"] == "production"
    stages = dict(ModelVersion.objects.values_list("version", "stage"))
    assert stages == {1: "archived", 2: "production"}
    t = StageTransition.objects.filter(version__version=2).first()
    assert (t.created_by, t.reason, t.to_stage) == (staff, "knn wins on recall", "production")
    assert post(staff_client, url, {"stage": "production", "reason": "again"}).status_code == 409
    assert (
        post(
            staff_client,
            "/api/models/iris/versions/7/promote/",
            {"stage": "staging", "reason": "x"},
        ).status_code
        == 404
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_leave_one_production_version(staff):
    from predictor.services.registry import version_promote
    from predictor.services.registry.datasets import dataset_create

    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()))
    versions = [
        train(dataset, algorithm=a)
        for a in ("logistic_regression", "knn", "decision_tree", "random_forest")
    ]
    barrier = threading.Barrier(3)
    errors = []

    def promote(version):
        try:
            barrier.wait()
            version_promote(version=version, stage="production", user=staff, reason="race")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ModelVersion.objects.filter(stage=Stage.PRODUCTION).count() == 1
    assert StageTransition.objects.filter(reason="race", to_stage="production").count() == 3


# --- datasets and training jobs -------------------------------------------------------------


def test_dataset_upload_and_detail(staff_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("iris.csv", csv_bytes(iris_frame()), content_type="text/csv")
    response = staff_client.post(
        "/api/datasets/", {"name": "flowers", "file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["target"] == "species" and data["row_count"] == 150 and len(data["sha256"]) == 64
    detail = staff_client.get(f"/api/datasets/{data['id']}/").json()
    assert detail["columns"][0] == {
        **detail["columns"][0],
        "name": "sepal_length",
        "type": "numeric",
    }
    bad = SimpleUploadedFile("bad.csv", b"a,a\n1,2\n", content_type="text/csv")
    response = staff_client.post("/api/datasets/", {"name": "bad", "file": bad}, format="multipart")
    assert response.status_code == 400 and "appears twice" in response.json()["detail"]
    response = staff_client.post("/api/datasets/", {"name": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_training_job_through_the_api(iris_dataset, staff_client):
    body = {
        "dataset": iris_dataset.pk,
        "model": "iris",
        "algorithm": "random_forest",
        "params": {"n_estimators": 20},
        "test_size": 0.2,
        "cv": 3,
        "random_state": 0,
    }
    response = post(staff_client, "/api/training-jobs/", body)
    assert response.status_code == 202, response.json()
    job = response.json()
    polled = staff_client.get(f"/api/training-jobs/{job['id']}/").json()
    assert polled["status"] == "succeeded" and polled["progress"] == 1.0
    assert polled["model"] == "iris" and polled["version"] == 1


@pytest.mark.parametrize(
    "change,message",
    [
        ({"algorithm": "xgboost"}, "algorithm"),
        ({"params": {"n_trees": 3}}, "unknown parameter 'n_trees'"),
        ({"params": {"n_estimators": 0}}, "n_estimators"),
        ({"algorithm": "linear_regression"}, "not available for classification"),
        ({"dataset": 999}, "dataset"),
        ({"cv": "many"}, "cv"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_training_requests_are_400(iris_dataset, staff_client, change, message):
    body = {"dataset": iris_dataset.pk, "model": "iris", "algorithm": "random_forest", **change}
    response = post(staff_client, "/api/training-jobs/", body)
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert TrainingJob.objects.count() == 0


# --- the hot path ---------------------------------------------------------------------------


def test_single_prediction_query_count_and_cached_artifact(iris_version, alice_client):
    from django.test.utils import CaptureQueriesContext

    from predictor.services.registry import artifacts

    post(alice_client, URL, {"data": [ROW]})  # warm: loads the artifact once
    loads = artifacts.load_count
    with CaptureQueriesContext(connection) as queries:
        response = post(alice_client, URL, {"data": [ROW]})
    assert response.status_code == 200
    # The test's own transaction turns BEGIN/COMMIT into savepoints: leave those out.
    real = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    # Steady state: the token, the version and its model come from this process's caches;
    # the only database work is the log's INSERT and the upsert of its hourly aggregate
    # (one statement on PostgreSQL, two in one transaction on SQLite).
    assert len(real) == (1 if connection.vendor == "postgresql" else 2), real
    assert real[0].startswith(("INSERT", "WITH")) and "predictor_predictionhour" in real[-1]
    for _ in range(3):
        post(alice_client, URL, {"data": [ROW]})
    assert artifacts.load_count == loads


def test_tampered_artifact_is_a_json_error_not_a_prediction(iris_version, anon_client, settings):
    path = settings.ARTIFACT_ROOT / iris_version.artifact
    path.write_bytes(path.read_bytes() + b"x")
    response = post(anon_client, URL, {"data": [ROW]})
    assert response.status_code == 503  # API.md "Failures": a broken version answers 503
    assert "does not match its recorded sha256" in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_throttling_answers_429_json(iris_version, anon_client, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "100/minute"}
    )
    codes = [post(anon_client, URL, {"data": [ROW]}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = post(anon_client, URL, {"data": [ROW]})
    assert "throttled" in response.json()["detail"] and Prediction.objects.count() == 3


def test_csv_body_that_is_not_csv_is_400(iris_version, anon_client):
    response = anon_client.post(URL, b"\r\xf1\xb0\x84\x95u", content_type="text/csv")
    assert response.status_code == 400 and Prediction.objects.count() == 0


@pytest.mark.parametrize(
    "query,message",
    [
        ("?modle=iris", "unknown query parameter"),
        ("?until=", "empty value"),
        ("?page_size=0", "page_size"),
        ("?page_size=5000", "page_size"),
        ("?page=-2", "page"),
        ("?version=0.5", "version"),
        ("?model=Not%20A%20Slug", "model"),
        ("?format=xml", "format"),
        ("?format=csv&page_size=9999", "page_size"),
    ],
)
def test_history_refuses_nonsense_parameters(iris_version, alice_client, query, message):
    response = alice_client.get("/api/predictions/" + query)
    assert response.status_code in (400, 404), response.content
    assert response["Content-Type"].startswith("application/json")
    assert message in json.dumps(response.json())
