"""Feedback is evidence, not truth: who gave it is recorded, only trusted feedback judges a
version or starts a retrain, the gate's holdout holds no feedback, and one user's labels
cannot steer a model (issue 31)."""

import io

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.urls import reverse

from predictor.models import Prediction, RetrainPolicy, Stage, TrainingJob
from predictor.services import monitoring
from predictor.services.serving import inference, runtime
from predictor.services.training import retrain_create
from predictor.tests.conftest import client_for

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# iris: 150 rows, a fifth held out (stratified, random_state 0) -> 120 training rows.
DATASET_TRAIN, DATASET_HOLDOUT = 120, 30


def answer_for(version) -> str:
    return runtime.runtime_for(version=version).predict([SETOSA]).predictions[0]


def label_through_the_api(user, n: int, actual: str = "virginica") -> list[int]:
    """What an attacker does: predict setosa n times, label every answer `actual`."""
    client = client_for(user)
    answer = client.post("/api/models/iris/predict/", {"inputs": [SETOSA] * n}, format="json")
    assert answer.status_code == 200, answer.content
    ids = answer.json()["prediction_ids"]
    for pid in ids:
        given = client.post(f"/api/predictions/{pid}/feedback/", {"actual": actual}, format="json")
        assert given.status_code == 200, given.content
    return ids


def label(version, user, n: int, actual: str = "virginica") -> None:
    ids = inference.predict(version=version, records=[SETOSA] * n, user=user).prediction_ids
    for pid in ids:
        inference.prediction_feedback(
            prediction=Prediction.objects.get(pk=pid), actual=actual, user=user
        )


def production(model):
    return model.versions.get(stage=Stage.PRODUCTION)


# --- who gave the ground truth ------------------------------------------------------------------


def test_feedback_records_its_source_and_giver(iris_version, staff, alice, client):
    label_through_the_api(staff, 1)
    label_through_the_api(alice, 1)
    given = dict(Prediction.objects.values_list("actual_source", "actual_by_id"))
    assert given == {"staff": staff.pk, "user": alice.pk}
    # An anonymous visitor labels a prediction of their browser session (the web door).
    pid = inference.predict(version=iris_version, records=[SETOSA]).prediction_ids[0]
    session = client.session
    session["predictions"] = [pid]
    session.save()
    answer = client.post(reverse("prediction-page", args=[pid]), {"actual": "virginica"})
    assert answer.status_code == 302
    row = Prediction.objects.get(pk=pid)
    assert (row.actual, row.actual_source, row.actual_by_id) == ("virginica", "anonymous", None)
    # A service call that names no one is the least trusted: anonymous.
    inference.prediction_feedback(prediction=row, actual="setosa", user=AnonymousUser())
    assert Prediction.objects.get(pk=pid).actual_source == "anonymous"


# --- live accuracy per source -------------------------------------------------------------------


def test_a_users_false_labels_neither_degrade_nor_alert(iris_version, alice, staff):
    label_through_the_api(alice, 40)
    report = monitoring.report(version=iris_version)
    assert report["live"]["labelled"] == 40 and report["live"]["accuracy"] == 0.0
    assert report["live_by_source"]["users"]["accuracy"] == 0.0
    assert report["live_by_source"]["staff"] is None
    assert report["status"] != monitoring.DEGRADED
    # Staff saying the same is trusted: degraded.
    label(iris_version, staff, 40)
    report = monitoring.report(version=iris_version)
    assert report["live_by_source"]["staff"]["labelled"] == 40
    assert report["live_by_source"]["users"]["labelled"] == 40
    assert report["live"]["labelled"] == 80
    assert report["status"] == monitoring.DEGRADED


def test_the_monitoring_api_shows_live_by_source(iris_version, alice, manager):
    label_through_the_api(alice, 3)
    answer = client_for(manager).get("/api/models/iris/monitoring/")
    assert answer.status_code == 200
    by_source = answer.json()["live_by_source"]
    assert by_source["staff"] is None and by_source["users"]["labelled"] == 3


# --- the poisoning run --------------------------------------------------------------------------


def put_policy(client, **body):
    return client.put("/api/models/iris/retrain-policy/", body, format="json")


def test_two_hundred_false_labels_from_one_user_leave_production_unchanged(
    iris_version, alice, manager
):
    assert answer_for(iris_version) == "setosa"
    label_through_the_api(alice, 200)
    client = client_for(manager)
    policy = dict(on_live_below=0.9, promote="if_better", include_feedback=True)
    assert put_policy(client, **policy).status_code == 200
    call_command("retrain_due", stdout=io.StringIO())
    assert not TrainingJob.objects.filter(kind="retrain").exists()  # staff figures: none
    answer = put_policy(client, **policy, feedback_from="everyone")
    assert answer.status_code == 200 and answer.json()["feedback_from"] == "everyone"
    call_command("retrain_due", stdout=io.StringIO())
    assert not TrainingJob.objects.filter(kind="retrain").exists()
    # A manager forces a retrain on everyone's feedback: the user's share is capped, and the
    # version stays in staging whatever the gate says.
    answer = client.post(
        "/api/models/iris/retrain/",
        {"feedback_from": "everyone", "promote": "if_better", "min_improvement": 0.0},
        format="json",
    )
    assert answer.status_code == 202, answer.content
    job = TrainingJob.objects.get(pk=answer.json()["id"])
    assert job.status == "succeeded", job.error
    new = job.version
    cap = int(0.1 * DATASET_TRAIN)
    assert new.feedback_rows == cap
    assert new.feedback_from == {"staff": 0, "users": cap, "user_ids": [alice.pk]}
    assert new.metrics["n_train"] == DATASET_TRAIN + cap
    assert new.stage == Stage.STAGING
    transition = new.transitions.get(to_stage=Stage.STAGING)
    assert "non-staff feedback" in transition.reason
    assert production(iris_version.model) == iris_version
    assert answer_for(production(iris_version.model)) == "setosa"


def test_the_gate_scores_on_the_datasets_holdout_only(iris_version, alice, manager):
    label_through_the_api(alice, 200)
    answer = client_for(manager).post(
        "/api/models/iris/retrain/", {"feedback_from": "everyone"}, format="json"
    )
    job = TrainingJob.objects.get(pk=answer.json()["id"])
    # Both figures are on the job, measured on the same rows: the dataset's holdout alone.
    shown = client_for(manager).get(f"/api/training-jobs/{job.pk}/").json()
    assert shown["baseline_metrics"]["accuracy"] == job.baseline_metrics["accuracy"]
    assert shown["metrics"] == job.version.metrics
    assert job.baseline_metrics["n_test"] == DATASET_HOLDOUT == job.version.metrics["n_test"]
    assert job.version.metrics["n_test"] == iris_version.metrics["n_test"]
    # The old version's holdout figure is what it scored when trained: same rows, no feedback
    # (had the 200 false labels joined the holdout, v1 would score far below it).
    assert job.baseline_metrics["accuracy"] == iris_version.metrics["accuracy"]
    transition = job.version.transitions.get(to_stage=Stage.STAGING)
    assert "dataset's holdout" in transition.reason and "no feedback" in transition.reason


def test_feedback_enters_training_by_source(iris_version, staff, alice, bob, client, settings):
    settings.RETRAIN_MAX_FEEDBACK_SHARE = 0.1
    label(iris_version, staff, 7)
    label(iris_version, alice, 50)
    label(iris_version, bob, 5)
    label(iris_version, AnonymousUser(), 30)
    model = iris_version.model
    staff_only = retrain_create(model=model, user=staff).version
    assert staff_only.feedback_from == {"staff": 7, "users": 0, "user_ids": []}
    assert staff_only.feedback_rows == 7
    everyone = retrain_create(model=model, user=staff, feedback_from="everyone").version
    cap = int(0.1 * (DATASET_TRAIN + 7))
    assert everyone.feedback_from == {
        "staff": 7,
        "users": cap + 5,
        "user_ids": sorted([alice.pk, bob.pk]),
    }
    assert everyone.feedback_rows == 7 + cap + 5
    n_train = everyone.metrics["n_train"]
    assert n_train == DATASET_TRAIN + 7 + cap + 5 and cap / n_train <= 0.1
    nothing = retrain_create(model=model, user=staff, include_feedback=False).version
    assert nothing.feedback_rows == 0 and nothing.feedback_from == {}
    with pytest.raises(retrain_module().InvalidInput, match="feedback_from"):
        retrain_create(model=model, user=staff, feedback_from="anyone")


def retrain_module():
    from predictor.services.training import retrain

    return retrain


def test_staff_feedback_may_promote_but_users_never(iris_dataset, staff, alice, manager):
    from predictor.tests.conftest import train

    weak = train(iris_dataset, algorithm="decision_tree", params={"max_depth": 1})
    label(weak, alice, 5, actual="setosa")
    better = {"params": {"max_depth": 3}, "promote": "if_better", "min_improvement": 0.01}
    client = client_for(manager)
    job = client.post(
        "/api/models/iris/retrain/", {**better, "feedback_from": "everyone"}, format="json"
    )
    job = TrainingJob.objects.get(pk=job.json()["id"])
    assert job.version.metrics["accuracy"] > job.baseline_metrics["accuracy"] + 0.01
    assert job.version.stage == Stage.STAGING and production(weak.model) == weak
    job = client.post("/api/models/iris/retrain/", better, format="json")
    job = TrainingJob.objects.get(pk=job.json()["id"])
    assert job.version.stage == Stage.PRODUCTION and job.version.feedback_from["users"] == 0


def test_feedback_from_is_validated(iris_version, manager):
    client = client_for(manager)
    answer = client.post("/api/models/iris/retrain/", {"feedback_from": "all"}, format="json")
    assert answer.status_code == 400 and "feedback_from" in answer.json()
    answer = put_policy(client, every_hours=1, feedback_from="all")
    assert answer.status_code == 400 and "feedback_from" in answer.json()
    answer = put_policy(client, every_hours=1, feedback_from="staff")
    assert answer.status_code == 200 and answer.json()["feedback_from"] == "staff"
    assert RetrainPolicy.objects.count() == 1
