"""The comparison right after training (holdout, inputs) and shadow failures: service, API,
Prometheus."""

import json

import pytest

from predictor.models.operations import ShadowFailure
from predictor.services import metrics
from predictor.services.monitoring import compare
from predictor.services.registry import artifacts
from predictor.services.registry.datasets import dataset_create
from predictor.tests.conftest import client_for, csv_bytes, iris_frame, train

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def fresh(iris_dataset):
    """iris v1 (production, logistic regression, four features, CV) and v2 (knn, trained
    a moment later on a dataset without petal_width): no traffic at all."""
    v1 = train(iris_dataset, cv=3)
    small = dataset_create(
        name="iris-3", file=csv_bytes(iris_frame().drop(columns=["petal_width"])), target="species"
    )
    v2 = train(small, algorithm="knn", params={"n_neighbors": 7})
    return v1, v2


def test_the_report_right_after_training_has_holdout_and_inputs(fresh):
    v1, v2 = fresh
    result = compare.report(model=v1.model, versions=[v1, v2])
    first, second = result["versions"]
    assert first["predictions"] == 0 and second["labelled"] == 0
    assert first["holdout"]["algorithm"] == "logistic_regression"
    assert first["holdout"]["metrics"]["accuracy"] == pytest.approx(v1.metrics["accuracy"])
    assert first["holdout"]["cv"]["mean"] == pytest.approx(v1.metrics["cv"]["mean"])
    assert first["holdout"]["dataset"] == {"id": v1.dataset_id, "name": "iris"}
    assert second["holdout"]["params"]["n_neighbors"] == 7
    assert second["holdout"]["dataset"]["name"] == "iris-3"
    assert first["features_added"] == first["features_removed"] == []
    assert second["features_removed"] == ["petal_width"] and second["features_added"] == []
    assert first["shadow_failures"] == {"count": 0, "last_error": "", "last_at": None}
    words = compare.sentence(result=result, task=v1.model.task)
    assert "Not enough feedback yet" in words and "On their holdouts" in words
    assert "accuracy" in words and "different datasets" in words
    # Listed the other way round, the differences read the other way too.
    back = compare.report(model=v1.model, versions=[v2, v1])
    assert back["versions"][1]["features_added"] == ["petal_width"]


def test_the_api_answers_the_same_and_only_to_staff(fresh, staff, alice):
    answer = client_for(staff).get("/api/models/iris/compare/?versions=1,2")
    assert answer.status_code == 200, answer.content
    second = answer.json()["versions"][1]
    assert second["holdout"]["algorithm"] == "knn"
    assert second["features_removed"] == ["petal_width"]
    assert "shadow_failures" in second
    assert client_for(alice).get("/api/models/iris/compare/?versions=1,2").status_code == 403


def test_a_failing_shadow_is_counted_with_its_last_error(iris_dataset, staff, alice, settings):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    v1.model.public = True
    v1.model.save()
    metrics.reset()
    staff_api = client_for(staff)
    body = {"routes": [], "shadows": [2], "reason": "shadow knn"}
    put = staff_api.put(
        "/api/models/iris/traffic/", json.dumps(body), content_type="application/json"
    )
    assert put.status_code == 200
    (settings.ARTIFACT_ROOT / v2.artifact).unlink()  # its artifact went missing
    artifacts.cache_clear()
    for _ in range(2):
        response = client_for(alice).post(
            "/api/models/iris/predict/", {"inputs": ROW}, format="json"
        )
        assert response.status_code == 200 and response.json()["version"] == 1
    failure = ShadowFailure.objects.get(version=v2)
    assert failure.count == 2 and failure.last_error and failure.last_at
    report = staff_api.get("/api/models/iris/compare/?versions=1,2").json()
    failed = report["versions"][1]["shadow_failures"]
    assert failed["count"] == 2 and failed["last_error"] == failure.last_error
    assert report["versions"][0]["shadow_failures"]["count"] == 0
    scraped = metrics.exposition().decode()
    assert 'mlsite_shadow_failures_total{model="iris",version="2"} 2.0' in scraped
