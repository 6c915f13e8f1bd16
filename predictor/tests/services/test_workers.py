"""Jobs outside the serving process: the database-queue worker, time limits, cancelling;
retraining on feedback with a gate; retrain policies."""

import io
import json
import threading
import time

import pytest
from django.core.management import call_command

from predictor.models import JobStatus, ModelVersion, Prediction, RetrainPolicy, Stage, TrainingJob
from predictor.services import training, worker
from predictor.services.serving import inference
from predictor.tests.conftest import train

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def files(settings) -> set:
    root = settings.ARTIFACT_ROOT
    return {p.name for p in root.iterdir()} if root.exists() else set()


# --- the database-queue worker -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_queued_job_in_its_own_process(iris_dataset, settings, staff_client):
    settings.TRAINING_BACKEND = "db"
    answer = staff_client.post(
        "/api/training-jobs/",
        {"dataset": iris_dataset.pk, "model": "iris", "algorithm": "knn", "cv": 0},
        format="json",
    )
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    job = TrainingJob.objects.get(pk=answer.json()["id"])
    assert job.runner == ""  # nobody serving holds it: a worker will claim it
    assert worker.work(once=True) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.runner.endswith(f":{__import__('os').getpid()}")
    assert job.version.model.name == "iris" and job.version.sha256
    assert job.version.artifact in files(settings)


@pytest.mark.django_db(transaction=True)
def test_a_job_over_its_time_limit_fails_and_leaves_nothing(credit_dataset, settings):
    settings.TRAINING_BACKEND = "db"
    settings.JOB_MAX_SECONDS = 4
    before = files(settings)
    job = training.job_create(
        dataset=credit_dataset,
        model_name="slow",
        algorithm="random_forest",
        params={"n_estimators": 2000},
        cv=5,
    )
    started = time.monotonic()
    worker.work(once=True)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "time limit of 4 s" in job.error
    assert time.monotonic() - started < 30
    assert job.version is None and not ModelVersion.objects.filter(model__name="slow").exists()
    assert files(settings) == before


@pytest.mark.django_db(transaction=True)
def test_cancel_a_running_job_and_an_ended_one(
    credit_dataset, settings, staff_client, alice_client
):
    settings.TRAINING_BACKEND = "db"
    before = files(settings)
    job = training.job_create(
        dataset=credit_dataset, model_name="slow", algorithm="random_forest",
        params={"n_estimators": 2000}, cv=5,
    )  # fmt: skip
    thread = threading.Thread(target=worker.work, kwargs={"once": True})
    thread.start()
    for _ in range(300):
        job.refresh_from_db()
        if job.status == JobStatus.RUNNING and job.progress >= 0.1:
            break
        time.sleep(0.1)
    assert job.status == JobStatus.RUNNING
    assert alice_client.post(f"/api/training-jobs/{job.pk}/cancel/").status_code == 403
    answer = staff_client.post(f"/api/training-jobs/{job.pk}/cancel/")
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    thread.join(30)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and "cancelled by staff" in job.error
    assert job.version is None and files(settings) == before
    again = staff_client.post(f"/api/training-jobs/{job.pk}/cancel/")
    assert again.status_code == 409 and "has ended" in again.json()["detail"]


def test_a_queued_job_cancelled_is_never_run(iris_dataset, settings, staff_client, client, staff):
    settings.TRAINING_BACKEND = "db"
    job = training.job_create(dataset=iris_dataset, model_name="iris", algorithm="knn", cv=0)
    client.force_login(staff)
    page = client.post(f"/jobs/{job.pk}/", {"cancel": "1"})
    assert page.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    from predictor.services import jobs

    assert jobs.job_claim(runner_id="test:1") is None


# --- retraining -------------------------------------------------------------------------------


@pytest.fixture
def tree(iris_dataset):
    version = train(iris_dataset, algorithm="decision_tree", params={"random_state": 0})
    version.model.public = True
    version.model.save()
    return version


def feedback(version, n, actual, *, by):
    """n setosa predictions, each labelled `actual` by `by` (staff: trusted feedback)."""
    ids = inference.predict(version=version, records=[SETOSA] * n).prediction_ids
    for pid in ids:
        inference.prediction_feedback(
            prediction=Prediction.objects.get(pk=pid), actual=actual, user=by
        )


def answer_for(version) -> str:
    from predictor.services.serving import runtime

    return runtime.runtime_for(version=version).predict([SETOSA]).predictions[0]


def retrain(client, **body):
    return client.post("/api/models/iris/retrain/", body, format="json")


def test_feedback_rows_enter_the_training_data(tree, staff_client, staff):
    assert answer_for(tree) == "setosa"
    feedback(tree, 60, "virginica", by=staff)
    without = retrain(staff_client, include_feedback=False)
    assert without.status_code == 202, without.content
    job = TrainingJob.objects.get(pk=without.json()["id"])
    assert job.status == JobStatus.SUCCEEDED and job.kind == "retrain", job.error
    assert answer_for(job.version) == "setosa" and job.version.feedback_rows == 0
    with_feedback = TrainingJob.objects.get(pk=retrain(staff_client).json()["id"])
    new = with_feedback.version
    assert answer_for(new) == "virginica"
    assert new.feedback_rows == 60 and new.parent == tree and new.dataset == tree.dataset
    assert new.feedback_from == {"staff": 60, "users": 0, "user_ids": []}
    assert new.stage == Stage.STAGING  # the default gate never promotes
    # Both scored on the dataset's holdout, which holds no feedback row.
    assert with_feedback.baseline_metrics["n_test"] == new.metrics["n_test"] == 30
    assert new.metrics["n_train"] == 120 + 60
    answer = staff_client.get(f"/api/training-jobs/{with_feedback.pk}/").json()
    assert answer["baseline_metrics"]["accuracy"] == with_feedback.baseline_metrics["accuracy"]
    assert answer["metrics"]["accuracy"] == new.metrics["accuracy"]


def test_the_gate_promotes_only_when_better_by_the_margin(iris_dataset, staff_client, staff):
    # Feedback no longer scores the gate (its holdout is the dataset's): a better algorithm
    # setting must earn the promotion on the curated rows.
    stump = train(iris_dataset, algorithm="decision_tree", params={"max_depth": 1})
    feedback(stump, 10, "setosa", by=staff)
    deeper = {"params": {"max_depth": 3}, "promote": "if_better"}
    job = TrainingJob.objects.get(
        pk=retrain(staff_client, **deeper, min_improvement=0.9).json()["id"]
    )
    assert job.version.stage == Stage.STAGING
    stump.refresh_from_db()
    assert stump.stage == Stage.PRODUCTION
    answer = retrain(staff_client, **deeper, min_improvement=0.01, reason="feedback says so")
    job = TrainingJob.objects.get(pk=answer.json()["id"])
    assert job.version.stage == Stage.PRODUCTION
    transition = job.version.transitions.get(to_stage=Stage.PRODUCTION)
    new, old = job.version.metrics["accuracy"], job.baseline_metrics["accuracy"]
    assert f"accuracy {new:.4f} vs {old:.4f} for v1 on the dataset's holdout" in transition.reason
    assert "feedback says so" in transition.reason and "10 from staff" in transition.reason


def test_retrain_requests_are_validated(tree, staff_client, alice_client, diabetes_dataset):
    assert retrain(alice_client).status_code == 403
    for body, field in (
        ({"promote": "sometimes"}, "promote"),
        ({"min_improvement": -1}, "min_improvement"),
        ({"colour": "red"}, "colour"),
        ({"algorithm": "linear_regression"}, "algorithm"),
        ({"params": {"max_depth": 10**6}}, "max_depth"),
    ):
        answer = retrain(staff_client, **body)
        assert answer.status_code == 400 and field in json.dumps(answer.json()), body
    assert not TrainingJob.objects.filter(kind="retrain").exists()
    assert staff_client.post("/api/models/nope/retrain/", {}, format="json").status_code == 404


# --- retrain policies ---------------------------------------------------------------------------


def put_policy(client, **body):
    return client.put("/api/models/iris/retrain-policy/", body, format="json")


def test_policy_validation_and_roles(tree, staff_client, alice_client):
    assert put_policy(alice_client, every_hours=1).status_code == 403
    answer = put_policy(staff_client, on_drift=False)
    assert answer.status_code == 400 and "trigger" in answer.json()["detail"]
    assert put_policy(staff_client, every_hours=0).status_code == 400
    assert put_policy(staff_client, on_live_below=1.5).status_code == 400
    assert put_policy(staff_client, every_hours=1, frequency="often").status_code == 400
    answer = put_policy(staff_client, every_hours=24, promote="if_better", min_improvement=0.01)
    assert answer.status_code == 200 and answer.json()["every_hours"] == 24
    assert staff_client.get("/api/models/iris/retrain-policy/").json()["promote"] == "if_better"


def test_due_policies_start_exactly_one_job(tree, staff_client, settings):
    put_policy(staff_client, every_hours=6)
    out = io.StringIO()
    call_command("retrain_due", stdout=out)
    assert "1 retrain jobs started" in out.getvalue()
    job = TrainingJob.objects.get(kind="retrain")
    assert "every 6 hours" in job.options["trigger"] and job.status == JobStatus.SUCCEEDED
    call_command("retrain_due", stdout=out)  # not due again for 6 hours
    assert TrainingJob.objects.filter(kind="retrain").count() == 1
    # A due policy whose model has a job waiting starts nothing.
    RetrainPolicy.objects.update(last_run_at=None)
    settings.TRAINING_BACKEND = "db"
    training.job_create(dataset=tree.dataset, model_name="iris", algorithm="knn", cv=0)
    call_command("retrain_due", stdout=out)
    assert TrainingJob.objects.filter(kind="retrain").count() == 1


def test_live_accuracy_below_the_bound_triggers(tree, staff_client, staff):
    put_policy(staff_client, on_live_below=0.9)
    call_command("retrain_due", stdout=io.StringIO())
    assert not TrainingJob.objects.filter(kind="retrain").exists()  # no feedback: no live figure
    feedback(tree, 30, "virginica", by=staff)  # all wrong, LIVE_MIN_LABELS of them: accuracy 0
    call_command("retrain_due", stdout=io.StringIO())
    job = TrainingJob.objects.get(kind="retrain")
    assert "live accuracy 0.000 below 0.9" in job.options["trigger"]


def test_training_names_its_dataset_by_id_or_name(iris_dataset, staff_client):
    for dataset in (iris_dataset.pk, "iris"):
        answer = staff_client.post(
            "/api/training-jobs/",
            {"dataset": dataset, "model": "iris", "algorithm": "knn", "cv": 0},
            format="json",
        )
        assert answer.status_code == 202 and answer.json()["dataset"] == iris_dataset.pk
    answer = staff_client.post(
        "/api/training-jobs/",
        {"dataset": "no-such-data", "model": "iris", "algorithm": "knn"},
        format="json",
    )
    assert answer.status_code == 400 and "dataset" in answer.json()
