"""Queued and running jobs per person (services.jobs.jobs_check_cap): 3 for users, 20 for
managers; beyond, 429 on the API and a form error on pages; jobs the system starts are
not counted against anyone."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from predictor.models import JobStatus, TrainingJob
from predictor.services import jobs
from predictor.services.errors import TooManyJobs
from predictor.services.training import retrain_create

from ..conftest import client_for

ROWS = "\n".join(["5.1,3.5,1.4,0.2", "6.7,3.1,4.4,1.4", "6.3,3.3,6.0,2.5"] * 4)
BATCH_FILE = f"sepal_length,sepal_width,petal_length,petal_width\n{ROWS}\n".encode()


@pytest.fixture(autouse=True)
def _jobs_stay_queued(settings):
    """Jobs wait for a worker (none runs here), as they do in production."""
    settings.TRAINING_BACKEND = "db"
    settings.BATCH_SYNC_MAX_ROWS = 5  # the batch file above becomes a job


def _queue(user, n, status=JobStatus.QUEUED):
    for _ in range(n):
        TrainingJob.objects.create(kind="batch", model_name="iris", created_by=user, status=status)


def test_the_cap_counts_queued_and_running_jobs_of_the_user(alice, bob, manager, settings):
    _queue(alice, 2)
    _queue(alice, 1, JobStatus.RUNNING)
    _queue(alice, 5, JobStatus.SUCCEEDED)  # ended jobs do not count
    _queue(bob, 1)
    with pytest.raises(TooManyJobs) as refused:
        jobs.jobs_check_cap(user=alice)
    assert refused.value.status_code == 429
    assert refused.value.message.startswith("you have 3 jobs queued or running; the limit is 3")
    assert "JOBS_MAX_PER_USER" in refused.value.message
    jobs.jobs_check_cap(user=bob)
    jobs.jobs_check_cap(user=None)  # the system
    _queue(manager, 19)
    jobs.jobs_check_cap(user=manager)
    _queue(manager, 1)
    with pytest.raises(TooManyJobs, match=r"the limit is 20 \(JOBS_MAX_PER_MANAGER\)"):
        jobs.jobs_check_cap(user=manager)
    settings.JOBS_MAX_PER_USER = 4
    jobs.jobs_check_cap(user=alice)


def test_a_superuser_is_a_manager(django_user_model):
    root = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    _queue(root, 19)
    jobs.jobs_check_cap(user=root)


def test_the_fourth_batch_job_is_a_form_error_until_one_ends(iris_version, alice, manager):
    client = Client()
    client.force_login(alice)

    def upload():
        file = SimpleUploadedFile("rows.csv", BATCH_FILE)
        return client.post("/models/iris/batch/", {"file": file})

    for _ in range(3):
        response = upload()
        assert response.status_code == 302 and "/jobs/" in response["Location"]
    response = upload()
    assert response.status_code == 400
    page = response.content.decode()
    assert "you have 3 jobs queued or running; the limit is 3 (JOBS_MAX_PER_USER)" in page
    batch = TrainingJob.objects.filter(kind="batch")
    assert batch.filter(created_by=alice).count() == 3  # the refused one is not kept
    # A manager may queue more.
    client.force_login(manager)
    for _ in range(4):
        assert upload().status_code == 302
    # Once one of alice's jobs has ended she may queue one again.
    first = batch.filter(created_by=alice).order_by("pk").first()
    TrainingJob.objects.filter(pk=first.pk).update(status=JobStatus.SUCCEEDED)
    client.force_login(alice)
    assert upload().status_code == 302
    assert batch.filter(created_by=alice, status=JobStatus.QUEUED).count() == 3


def test_the_api_answers_429_beyond_the_cap(iris_dataset, staff, manager, settings):
    # Only managers train (staff is one in these tests); their cap, lowered to 3 here.
    settings.JOBS_MAX_PER_MANAGER = 3
    body = {"dataset": iris_dataset.pk, "model": "iris", "algorithm": "logistic_regression"}

    def start(user):
        return client_for(user).post(
            "/api/training-jobs/", json.dumps(body), content_type="application/json"
        )

    for _ in range(3):
        assert start(staff).status_code == 202
    response = start(staff)
    assert response.status_code == 429
    answer = response.json()
    assert answer["detail"].startswith("you have 3 jobs queued or running; the limit is 3")
    assert (answer["limit"], answer["active"]) == (3, 3)
    assert TrainingJob.objects.filter(created_by=staff).count() == 3
    assert start(manager).status_code == 202  # each person's jobs are counted apart


def test_the_train_page_and_the_admin_show_a_form_error(
    iris_dataset, staff, django_user_model, settings
):
    settings.JOBS_MAX_PER_MANAGER = 3  # only managers train (staff is one in these tests)
    _queue(staff, 3)
    client = Client()
    client.force_login(staff)
    form = {
        "dataset": iris_dataset.pk,
        "target": "species",
        "model": "flowers",
        "algorithm": "logistic_regression",
        "test_size": "0.2",
        "cv": "0",
    }
    response = client.post("/train/", form)
    assert response.status_code == 400
    assert "the limit is 3 (JOBS_MAX_PER_MANAGER)" in response.content.decode()
    settings.JOBS_MAX_PER_MANAGER = 20
    root = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    _queue(root, 20)
    client.force_login(root)
    response = client.post(
        reverse("admin:predictor_trainingjob_add"),
        {
            "dataset": iris_dataset.pk,
            "model_name": "flowers",
            "algorithm": "logistic_regression",
            "params": "{}",
            "test_size": "0.2",
            "cv": "0",
        },
    )
    assert response.status_code == 200
    assert "the limit is 20 (JOBS_MAX_PER_MANAGER)" in response.content.decode()
    assert TrainingJob.objects.filter(model_name="flowers").count() == 0


def test_a_retrain_by_a_policy_is_not_capped_but_one_asked_for_is(iris_version, staff, settings):
    settings.JOBS_MAX_PER_MANAGER = 3  # only managers retrain (staff is one in these tests)
    _queue(staff, 3)
    with pytest.raises(TooManyJobs):
        retrain_create(model=iris_version.model, user=staff)
    job = retrain_create(model=iris_version.model, user=staff, trigger="every 24 h")
    assert job.status == JobStatus.QUEUED and job.created_by == staff
