import json
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from predictor.services.monitoring import health

from ..conftest import train

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(autouse=True)
def _fresh_readiness():
    health.reset()
    yield
    health.reset()


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def samples(client) -> list:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in found
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_is_ok_without_touching_the_database(anon_client):
    # No database in this test: a query would raise instead of answering.
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert anon_client.get("/healthz/").json() == {"status": "ok"}


# --- /readyz ----------------------------------------------------------------------------------


def test_readyz_is_ready_when_the_database_answers_and_production_loads(iris_version, anon_client):
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "artifacts": "ok"},
    }


def test_readyz_is_degraded_naming_the_version_whose_artifact_is_gone(
    iris_version, anon_client, settings
):
    (settings.ARTIFACT_ROOT / iris_version.artifact).unlink()
    response = anon_client.get("/readyz")
    assert response.status_code == 200  # the other models still serve
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "artifacts": "iris v1: artifact missing"},
    }


def test_readyz_is_degraded_when_an_artifact_was_tampered_with(iris_version, anon_client, settings):
    path = settings.ARTIFACT_ROOT / iris_version.artifact
    path.write_bytes(path.read_bytes() + b"x")
    body = anon_client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert body["checks"]["artifacts"] == "iris v1: hash mismatch"


def test_readyz_is_503_unready_when_the_database_does_not_answer(
    iris_version, anon_client, monkeypatch
):
    def refused():
        raise OperationalError("connection refused\nmore detail")

    monkeypatch.setattr(health, "database_ping", refused)
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"]["database"] == "connection refused"


def test_readyz_never_answers_500(anon_client, monkeypatch):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(health, "readiness_check", broken)
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"


def test_readyz_answer_is_cached_per_process(
    iris_version, anon_client, settings, django_assert_num_queries
):
    assert anon_client.get("/readyz").json()["status"] == "ready"
    (settings.ARTIFACT_ROOT / iris_version.artifact).unlink()
    # Within READINESS_CACHE_SECONDS (2 s): the same answer, no query, no file read.
    with django_assert_num_queries(0):
        response = anon_client.get("/readyz/")
    assert response.json()["status"] == "ready"
    settings.READINESS_CACHE_SECONDS = 0
    assert anon_client.get("/readyz").json()["status"] == "degraded"


# --- /metrics: who may read it ----------------------------------------------------------------


def test_metrics_anonymous_is_401_json(anon_client):
    response = anon_client.get("/metrics")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_metrics_ordinary_user_is_403_json(alice_client):
    response = alice_client.get("/metrics")
    assert response.status_code == 403
    assert "detail" in response.json()


def test_metrics_staff_by_token_or_session(staff_client, staff):
    assert staff_client.get("/metrics").status_code == 200
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/metrics").status_code == 200


def test_metrics_bearer_token_when_set(db, anon_client, settings):
    settings.METRICS_TOKEN = "scrape-secret-0123456789"
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789")
    response = anon_client.get("/metrics")
    assert response.status_code == 200
    assert b"# TYPE mlsite_predictions_total counter" in response.content
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer wrong-secret")
    assert anon_client.get("/metrics").status_code == 401


def test_metrics_bearer_is_refused_while_no_token_is_set(anon_client, settings):
    settings.METRICS_TOKEN = ""
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer ")
    assert anon_client.get("/metrics").status_code == 401


# --- /metrics: what it says -------------------------------------------------------------------


def test_predictions_and_requests_are_counted_by_model_source_and_status(
    iris_version, anon_client, staff_client
):
    before = samples(staff_client)
    for _ in range(3):
        assert post(anon_client, "/api/models/iris/predict/", {"data": [ROW]}).status_code == 200
    assert post(anon_client, "/api/models/iris/predict/", {"data": [[1, 2]]}).status_code == 400
    assert post(anon_client, "/api/models/nope/predict/", {"data": [ROW]}).status_code == 404
    after = samples(staff_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    rows = {"model": "iris", "version": "1", "source": "api"}
    assert delta("mlsite_predictions_total", **rows) == 3.0
    assert delta("mlsite_prediction_requests_total", model="iris", source="api", code="200") == 3
    assert delta("mlsite_prediction_requests_total", model="iris", source="api", code="400") == 1
    # A name that is no model is not a label value of its own.
    assert delta("mlsite_prediction_requests_total", model="unknown", code="404") == 1
    assert value(after, "mlsite_prediction_requests_total", model="nope") == 0
    assert delta("mlsite_prediction_latency_seconds_count", model="iris", source="api") == 4
    assert delta("mlsite_model_batch_rows_count", model="iris") == 3
    assert delta("mlsite_model_batch_rows_sum", model="iris") == 3


def test_v2_infer_and_the_web_form_are_counted_with_their_source(
    iris_version, anon_client, staff_client
):
    before = samples(staff_client)
    infer = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
    assert post(anon_client, "/v2/models/iris/infer", infer).status_code == 200
    form = dict(zip(iris_version.feature_names, map(str, ROW), strict=True))
    assert Client().post("/models/iris/", form).status_code == 302
    after = samples(staff_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mlsite_predictions_total", model="iris", source="v2") == 1
    assert delta("mlsite_prediction_requests_total", model="iris", source="v2", code="200") == 1
    assert delta("mlsite_predictions_total", model="iris", source="web") == 1
    assert delta("mlsite_prediction_requests_total", model="iris", source="web", code="302") == 1


def test_batch_page_and_web_refusals_are_counted(iris_version, alice, staff_client):
    before = samples(staff_client)
    browser = Client()
    browser.force_login(alice)
    header = ",".join(iris_version.feature_names)
    rows = "\n".join([header] + [",".join(map(str, ROW))] * 5).encode()
    upload = {"file": SimpleUploadedFile("rows.csv", rows)}
    assert browser.post("/models/iris/batch/", upload).status_code == 200
    assert browser.post("/models/nope/", {}).status_code == 404
    assert Client().post("/models/made-up-by-a-visitor/", {}).status_code == 404
    after = samples(staff_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mlsite_predictions_total", model="iris", source="batch") == 5
    assert delta("mlsite_prediction_requests_total", model="iris", source="batch", code="200") == 1
    assert delta("mlsite_prediction_requests_total", model="unknown", source="web", code="404") == 2
    assert delta("mlsite_model_batch_rows_sum", model="iris") == 5
    assert not [x for x in after if x.labels.get("model") == "made-up-by-a-visitor"]


def test_training_jobs_are_counted_by_status(iris_dataset, staff_client):
    before = value(samples(staff_client), "mlsite_training_jobs_total", status="succeeded")
    train(iris_dataset, model="iris-two")
    after = value(samples(staff_client), "mlsite_training_jobs_total", status="succeeded")
    assert after - before == 1


def test_model_info_and_process_figures(iris_version, staff_client):
    found = samples(staff_client)
    assert value(found, "mlsite_model_info", model="iris", version="1", stage="production") == 1
    pid = str(os.getpid())
    assert value(found, "mlsite_process_cpu_seconds_total", pid=pid) > 0
    assert value(found, "mlsite_process_resident_memory_bytes", pid=pid) > 10_000_000


def test_a_broken_artifact_is_reported_by_v2_ready_and_the_model_page(
    iris_version, settings, staff_client, client, alice
):
    from predictor.services.monitoring import health
    from predictor.services.registry import artifacts

    (settings.ARTIFACT_ROOT / iris_version.artifact).unlink()
    artifacts.cache_clear()
    health.reset()
    answer = staff_client.get("/v2/health/ready")
    assert answer.status_code == 200 and answer.json()["ready"] is True
    assert "iris v1: artifact missing" in answer.json()["unavailable"]
    client.force_login(alice)
    page = client.get("/models/iris/").content.decode()
    assert 'id="version-unavailable"' in page and "artifact" in page
    assert 'id="predict-form"' not in page
