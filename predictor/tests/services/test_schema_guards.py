"""Versions whose inputs differ are not mixed silently: traffic policies, promotion (service,
API, page), rollback, and retraining's automatic promotion."""

import json

import pytest

from predictor.models import Stage, StageTransition, TrafficChange
from predictor.services import registry
from predictor.services.registry.datasets import dataset_create
from predictor.services.schema.changes import schema_change
from predictor.services.training import retrain
from predictor.tests.conftest import client_for, csv_bytes, iris_frame, train


def without(column: str, name: str):
    frame = iris_frame().drop(columns=[column])
    return dataset_create(name=name, file=csv_bytes(frame), target="species")


def retyped(name: str):
    frame = iris_frame()
    frame["sepal_width"] = ["wide" if w > 3 else "narrow" for w in frame["sepal_width"]]
    return dataset_create(name=name, file=csv_bytes(frame), target="species")


@pytest.fixture
def shapes(iris_dataset):
    """iris v1 (production, four features), v2 (no petal_width), v3 (same as v1),
    v4 (sepal_width categorical)."""
    v1 = train(iris_dataset)
    v2 = train(without("petal_width", "iris-3"))
    v3 = train(iris_dataset, algorithm="knn")
    v4 = train(retyped("iris-cat"))
    return v1, v2, v3, v4


def test_schema_change_names_added_removed_and_retyped(shapes):
    v1, v2, _, v4 = shapes
    assert schema_change(old=v1.schema, new=v2.schema).as_dict() == {
        "added": [],
        "removed": ["petal_width"],
        "retyped": [],
    }
    change = schema_change(old=v1.schema, new=v4.schema)
    assert change.added == ("sepal_width",) and change.removed == ("sepal_width",)
    assert change.words() == "sepal_width numeric → categorical"
    assert not schema_change(old=v1.schema, new=shapes[2].schema)


@pytest.mark.parametrize("where", ["routes", "shadows"])
def test_a_policy_needing_other_inputs_is_400_naming_them(shapes, staff, where):
    client = client_for(staff)
    body = (
        {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}], "shadows": []}
        if where == "routes"
        else {"routes": [], "shadows": [2]}
    )
    response = client.put(
        "/api/models/iris/traffic/",
        json.dumps({**body, "reason": "try"}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["field"] == where and answer["version"] == 2
    assert "petal_width" in answer["detail"] and "version 2" in answer["detail"]
    assert answer["schema_change"]["removed"] == ["petal_width"]
    assert not TrafficChange.objects.exists()
    retyped_shadow = client.put(
        "/api/models/iris/traffic/",
        json.dumps({"routes": [], "shadows": [4], "reason": "try"}),
        content_type="application/json",
    )
    assert retyped_shadow.status_code == 400
    assert "sepal_width numeric → categorical" in retyped_shadow.json()["detail"]
    same = client.put(
        "/api/models/iris/traffic/",
        json.dumps({"routes": [], "shadows": [3], "reason": "same inputs"}),
        content_type="application/json",
    )
    assert same.status_code == 200, same.content


def test_promoting_other_inputs_needs_confirmation_api(shapes, staff, alice):
    v1, v2, _, _ = shapes
    url = "/api/models/iris/versions/2/promote/"
    client = client_for(staff)
    refused = client.post(url, {"stage": "production", "reason": "smaller"}, format="json")
    assert refused.status_code == 400, refused.content
    answer = refused.json()
    assert answer["field"] == "confirm_schema_change"
    assert "removed petal_width" in answer["detail"]
    assert answer["schema_change"]["removed"] == ["petal_width"]
    v1.refresh_from_db()
    assert v1.stage == Stage.PRODUCTION  # nothing half-done
    bad = client.post(
        url,
        {"stage": "production", "reason": "smaller", "confirm_schema_change": "yes"},
        format="json",
    )
    assert bad.status_code == 400 and "confirm_schema_change" in bad.json()
    body = {"stage": "production", "reason": "smaller", "confirm_schema_change": True}
    assert client_for(alice).post(url, body, format="json").status_code in (403, 404)
    done = client.post(url, body, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["stage"] == "production"
    # Staging needs no confirmation: clients do not reach it.
    assert registry.version_promote(version=v1, stage=Stage.STAGING, reason="keep").stage


def test_rollback_and_same_inputs_are_not_held_up(shapes):
    v1, v2, v3, _ = shapes
    registry.version_promote(
        version=v2, stage=Stage.PRODUCTION, reason="smaller", confirm_schema_change=True
    )
    back = registry.version_rollback(model=v1.model, reason="clients broke")
    assert back.pk == v1.pk and back.stage == Stage.PRODUCTION
    same = registry.version_promote(version=v3, stage=Stage.PRODUCTION, reason="knn")
    assert same.stage == Stage.PRODUCTION


def test_the_first_version_of_a_model_is_not_held_up(iris_dataset):
    first = train(without("petal_width", "iris-small"), model="small")
    assert first.stage == Stage.PRODUCTION


def test_retraining_never_promotes_other_inputs_silently(shapes, staff):
    """Retraining trains on all the production dataset's columns, so it changes the inputs
    only when production was imported with some of them; the gate is then the guard."""
    v1, v2, _, _ = shapes
    registry.version_promote(
        version=v2, stage=Stage.PRODUCTION, reason="smaller", confirm_schema_change=True
    )

    class Job:
        options = {"promote": "if_better", "min_improvement": 0.0, "trigger": "requested"}
        created_by = staff

    candidate = train(iris_dataset_again(), model="iris")  # all four features again
    retrain._gate(candidate, job=Job, better=True, figures="accuracy 1.0 vs 0.9")
    candidate.refresh_from_db()
    assert candidate.stage == Stage.STAGING
    reason = StageTransition.objects.filter(version=candidate).latest("id").reason
    assert "inputs differ" in reason and "added petal_width" in reason
    v2.refresh_from_db()
    assert v2.stage == Stage.PRODUCTION


def iris_dataset_again():
    return dataset_create(name="iris-again", file=csv_bytes(iris_frame()), target="species")


def test_retraining_on_the_production_dataset_keeps_the_inputs(iris_version, staff):
    job = retrain.retrain_create(model=iris_version.model, user=staff, include_feedback=False)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert not schema_change(old=iris_version.schema, new=job.version.schema)
