"""Upload → look → train on the pages: the profile, the feature checklist, the job page
(duration, compare with production, promote) and the jobs list."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from predictor.models import JobKind, JobStatus, TrainingJob
from predictor.services.registry.datasets import dataset_create
from predictor.tests.conftest import csv_bytes, train
from predictor.tests.services.test_dataset_profile import churn_frame
from predictor.web.training import job_duration


@pytest.fixture
def churn(db):
    return dataset_create(name="churn", file=csv_bytes(churn_frame()), target="churned")


def checkbox(page: str, value: str) -> str:
    found = re.search(rf'<input type="checkbox" name="features" value="{value}"[^>]*>', page)
    return found.group(0)


def train_form(dataset, **extra):
    return {
        "dataset": dataset.pk,
        "target": "churned",
        "model": "",
        "algorithm": "decision_tree",
        "test_size": "0.2",
        "cv": "0",
        "checklist": "True",
        **extra,
    }


def test_an_upload_shows_the_profile_and_unticks_the_noted_columns(client, staff):
    client.force_login(staff)
    upload = SimpleUploadedFile("churn.csv", csv_bytes(churn_frame()))
    response = client.post("/train/", {"upload-name": "churn", "upload-file": upload})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    profile = page.split('id="dataset-profile"')[1].split("</section>")[0]
    assert "identifier: left out by default" in profile
    assert "constant: left out by default" in profile
    assert "Class balance of churned" in profile and "yes:" in profile
    assert "C10001" in profile  # the first rows
    assert "checked" not in checkbox(page, "customer_id")
    assert "checked" not in checkbox(page, "country")
    assert "checked" in checkbox(page, "tenure")
    assert 'name="model" value="churn"' in page


def test_the_checklist_decides_the_features(client, staff, churn):
    client.force_login(staff)
    response = client.post("/train/", train_form(churn, features=["tenure", "plan"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    job = TrainingJob.objects.get()
    assert job.model_name == "churn"
    assert job.options["exclude"] == ["customer_id", "row_no", "country"]
    assert [f["name"] for f in job.version.schema] == ["tenure", "plan"]
    page = client.get(response["Location"]).content.decode()
    assert "Left out of the features: customer_id (identifier)" in page
    assert "Duration:" in page


def test_unticking_every_feature_is_a_form_error(client, staff, churn):
    client.force_login(staff)
    response = client.post("/train/", train_form(churn))
    assert response.status_code == 400
    assert "leaves out every feature" in response.content.decode()
    assert TrainingJob.objects.count() == 0


def test_the_job_page_offers_compare_and_promote_against_production(client, staff, churn):
    v1 = train(churn, model="churn", exclude=["customer_id", "row_no", "country"])
    assert v1.stage == "production"
    v2 = train(churn, model="churn", algorithm="decision_tree")
    client.force_login(staff)
    page = client.get(f"/jobs/{v2.training_job.pk}/").content.decode()
    assert "/models/churn/compare/?versions=1,2" in page
    assert 'id="job-promote"' in page
    response = client.post(
        "/models/churn/promote/", {"version": "2", "stage": "production", "reason": "better"}
    )
    assert response.status_code == 302
    v2.refresh_from_db()
    assert v2.stage == "production"


def test_a_staff_reader_sees_no_promote_form(client, churn, django_user_model):
    train(churn, model="churn")
    job = train(churn, model="churn").training_job
    reader = django_user_model.objects.create_user("reader", password="pw-reader-1", is_staff=True)
    client.force_login(reader)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "compare/?versions=1,2" in page and 'id="job-promote"' not in page


def test_the_jobs_list(client, staff, alice, bob, churn):
    version = train(churn, model="churn")
    mine = TrainingJob.objects.create(
        kind=JobKind.SCORING, model_name="churn", algorithm="", created_by=alice
    )
    TrainingJob.objects.create(
        kind=JobKind.SCORING, model_name="churn", algorithm="", created_by=bob
    )
    client.force_login(staff)
    page = client.get("/jobs/").content.decode()
    assert len(re.findall(r'href="/jobs/\d+/"', page)) == 3
    assert f'href="/jobs/{version.training_job.pk}/"' in page and "churn v1" in page
    assert 'href="/jobs/">Jobs</a>' in page  # in the navigation
    # A user sees their own batch jobs only, never a training job.
    client.force_login(alice)
    page = client.get("/jobs/").content.decode()
    assert re.findall(r'href="/jobs/(\d+)/"', page) == [str(mine.pk)]
    client.logout()
    assert client.get("/jobs/").status_code == 302


def test_a_user_cannot_reach_the_train_page_or_the_profile(client, alice, churn):
    client.force_login(alice)
    assert client.get(f"/train/?dataset={churn.pk}").status_code == 403
    response = client.post("/train/", train_form(churn, features=["tenure"]))
    assert response.status_code == 403
    assert TrainingJob.objects.count() == 0


def test_the_duration_of_a_job():
    start = timezone.now()
    job = TrainingJob(status=JobStatus.SUCCEEDED, started_at=start)
    job.finished_at = start + timedelta(seconds=125)
    assert job_duration(job) == "2 min 5 s"
    job.finished_at = None
    assert job_duration(job, now=start + timedelta(seconds=12)) == "running for 12 s"
    assert job_duration(TrainingJob()) == ""
