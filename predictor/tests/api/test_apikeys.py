"""Scoped API keys, from outside: made by staff, shown once, hashed, scoped, revocable."""

import json
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from predictor.models import Prediction, ScopedAPIKey, Stage
from predictor.services import registry
from predictor.tests.conftest import train

ROW = {"data": [[5.1, 3.5, 1.4, 0.2]]}


def with_key(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def make(staff_client, **body):
    answer = staff_client.post("/api/api-keys/", {"name": "ci", **body}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_a_key_is_shown_once_stored_hashed_and_predicts(
    iris_version, staff_client, staff, settings
):
    created = make(staff_client, name="nightly job")
    raw = created["key"]
    stored = ScopedAPIKey.objects.get(prefix=created["id"])
    assert raw not in stored.hashed_key and raw not in stored.id
    listed = staff_client.get("/api/api-keys/").json()
    assert [k["name"] for k in listed] == ["nightly job"] and "key" not in listed[0]
    answer = with_key(raw).post("/api/models/iris/predict/", ROW, format="json")
    assert answer.status_code == 200, answer.content
    assert Prediction.objects.get().user == staff  # acts for its maker
    assert with_key(raw).get("/api/models/iris/").status_code == 200
    assert (
        with_key(raw)
        .post(
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {
                        "name": "input",
                        "shape": [1, 4],
                        "datatype": "FP64",
                        "data": [5.1, 3.5, 1.4, 0.2],
                    }
                ]
            },
            format="json",
        )
        .status_code
        == 200
    )
    assert staff_client.get("/api/api-keys/").json()[0]["last_used"] is not None


def test_a_key_may_only_predict_and_read_models(iris_version, staff_client):
    raw = make(staff_client)["key"]
    client = with_key(raw)
    for method, path in (
        ("get", "/api/predictions/"),
        ("get", "/api/datasets/"),
        ("get", "/api/api-keys/"),
        ("post", "/api/training-jobs/"),
        ("post", "/api/models/iris/versions/1/promote/"),
        ("get", "/api/models/iris/monitoring/"),
    ):
        assert getattr(client, method)(path, {}, format="json").status_code == 403, path


def test_a_key_limited_to_a_model_gets_403_on_another(iris_dataset, staff_client):
    train(iris_dataset, model="iris")
    train(iris_dataset, model="churn")
    raw = make(staff_client, models=["churn"])["key"]
    client = with_key(raw)
    assert client.post("/api/models/churn/predict/", ROW, format="json").status_code == 200
    answer = client.post("/api/models/iris/predict/", ROW, format="json")
    assert answer.status_code == 403 and "iris" in answer.json()["detail"]
    assert [m["name"] for m in client.get("/api/models/").json()] == ["churn"]
    bad = staff_client.post("/api/api-keys/", {"name": "x", "models": ["nope"]}, format="json")
    assert bad.status_code == 400 and "nope" in json.dumps(bad.json())


def test_expired_and_revoked_keys_are_401(iris_version, staff_client, settings):
    settings.AUTH_CACHE_SECONDS = 0  # (within 5 s otherwise)
    soon = make(staff_client, expires_at=(timezone.now() + timedelta(seconds=30)).isoformat())
    ScopedAPIKey.objects.filter(prefix=soon["id"]).update(
        expiry_date=timezone.now() - timedelta(seconds=1)
    )
    assert (
        with_key(soon["key"]).post("/api/models/iris/predict/", ROW, format="json").status_code
        == 401
    )
    live = make(staff_client)
    assert (
        with_key(live["key"]).post("/api/models/iris/predict/", ROW, format="json").status_code
        == 200
    )
    assert staff_client.delete(f"/api/api-keys/{live['id']}/").status_code == 204
    assert (
        with_key(live["key"]).post("/api/models/iris/predict/", ROW, format="json").status_code
        == 401
    )
    assert [
        k["revoked"] for k in staff_client.get("/api/api-keys/").json() if k["id"] == live["id"]
    ] == [True]
    assert with_key("made.up").get("/api/models/").status_code == 401
    past = staff_client.post(
        "/api/api-keys/", {"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == 400


def test_a_key_is_never_staff_for_the_stage_rule(iris_dataset, staff_client, alice_client):
    train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    registry.version_promote(version=v2, stage=Stage.ARCHIVED, reason="old")
    raw = make(staff_client)["key"]
    assert (
        with_key(raw).post("/api/models/iris/versions/2/predict/", ROW, format="json").status_code
        == 404
    )
    assert (
        staff_client.post("/api/models/iris/versions/2/predict/", ROW, format="json").status_code
        == 200
    )
    assert alice_client.post("/api/api-keys/", {"name": "x"}, format="json").status_code == 403
