"""One rule for managing, in every door: a staff user without the "Model managers"
permissions reads what staff read but changes nothing (403); a manager still can; an API
key is revoked by its maker or a superuser only."""

import pytest
from django.test import Client

from predictor.models import Stage, TrafficChange, TrainingJob
from predictor.services import apikeys

from ..conftest import client_for, managers_group

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def manager2(django_user_model):
    user = django_user_model.objects.create_user("manager2", password="pw-m2-123", is_staff=True)
    user.groups.add(managers_group())
    return user


@pytest.fixture
def job(iris_version, staff):
    return TrainingJob.objects.create(kind="train", model_name="iris", created_by=staff)


# Every managing write of the API: (method, path, body).
API_WRITES = [
    ("post", "/api/datasets/", {"name": "x"}),
    ("post", "/api/training-jobs/", {"dataset": 1, "model": "iris", "algorithm": "knn"}),
    ("post", "/api/training-jobs/{job}/cancel/", {}),
    ("post", "/api/models/iris/versions/1/promote/", {"stage": "archived", "reason": "x"}),
    ("post", "/api/models/iris/retrain/", {}),
    ("put", "/api/models/iris/retrain-policy/", {"every_hours": 24}),
    ("put", "/api/models/iris/traffic/", {"routes": [], "shadows": [], "reason": "x"}),
    ("patch", "/api/models/iris/versions/1/", {"sensitive": []}),
    ("post", "/api/api-keys/", {"name": "mine"}),
    ("get", "/api/api-keys/", None),
]
# What staff read stays theirs, managers or not.
API_READS = [
    "/api/datasets/",
    "/api/training-jobs/{job}/",
    "/api/models/iris/traffic/",
    "/api/models/iris/retrain-policy/",
    "/api/models/iris/monitoring/",
]
# Every managing page: (method, path, form).
PAGE_WRITES = [
    ("get", "/train/", None),
    ("post", "/train/", {"model": "iris"}),
    ("post", "/models/iris/traffic/", {"routes": "", "shadows": "", "reason": "x"}),
    ("post", "/models/iris/promote/", {"version": "1", "stage": "archived", "reason": "x"}),
    ("post", "/models/iris/compare/", {"promote": "1", "reason": "x"}),
    ("post", "/jobs/{job}/", {"cancel": "1"}),
    ("get", "/admin/predictor/modelversion/import/", None),
    ("get", "/admin/predictor/trainingjob/add/", None),
    ("get", "/admin/predictor/dataset/add/", None),
]


@pytest.mark.parametrize("method, path, body", API_WRITES)
def test_staff_without_the_group_gets_403_on_every_managing_endpoint(
    iris_version, job, clerk, method, path, body
):
    version, jobs_before = iris_version, TrainingJob.objects.count()
    answer = getattr(client_for(clerk), method)(path.format(job=job.pk), body, format="json")
    assert answer.status_code == 403, answer.content
    assert "manag" in answer.json()["detail"]
    version.refresh_from_db()
    job.refresh_from_db()
    assert version.stage == Stage.PRODUCTION and not TrafficChange.objects.exists()
    assert job.status == "queued"
    assert TrainingJob.objects.count() == jobs_before


@pytest.mark.parametrize("path", API_READS)
def test_staff_without_the_group_still_reads(iris_version, job, clerk, path):
    assert client_for(clerk).get(path.format(job=job.pk)).status_code == 200


@pytest.mark.parametrize("method, path, form", PAGE_WRITES)
def test_staff_without_the_group_gets_403_on_every_managing_page(
    iris_version, job, clerk, method, path, form
):
    client = Client()
    client.force_login(clerk)
    answer = getattr(client, method)(path.format(job=job.pk), form)
    assert answer.status_code == 403
    iris_version.refresh_from_db()
    job.refresh_from_db()
    assert iris_version.stage == Stage.PRODUCTION and job.status == "queued"


def test_staff_without_the_group_still_sees_the_rollout_pages(iris_version, clerk):
    client = Client()
    client.force_login(clerk)
    assert client.get("/models/iris/traffic/").status_code == 200
    assert client.get("/models/iris/compare/").status_code != 403  # 400: one version only


def test_a_manager_still_manages(iris_version, manager2):
    client = client_for(manager2)
    policy = {"routes": [], "shadows": [], "reason": "reviewed"}
    assert client.put("/api/models/iris/traffic/", policy, format="json").status_code == 200
    body = {"stage": "staging", "reason": "x"}
    answer = client.post("/api/models/iris/versions/1/promote/", body, format="json")
    assert answer.status_code == 200 and answer.json()["stage"] == "staging"
    assert client.post("/api/api-keys/", {"name": "mine"}, format="json").status_code == 201
    page = Client()
    page.force_login(manager2)
    assert page.get("/train/").status_code == 200


def test_a_key_is_revoked_by_its_maker_or_a_superuser(
    iris_version, staff, manager2, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "", "pw-root-123")
    mine, _ = apikeys.key_create(user=staff, name="staff's")
    other, _ = apikeys.key_create(user=staff, name="staff's too")
    refused = client_for(manager2).delete(f"/api/api-keys/{mine.prefix}/")
    assert refused.status_code == 403 and "maker" in refused.json()["detail"]
    mine.refresh_from_db()
    assert not mine.revoked
    assert client_for(staff).delete(f"/api/api-keys/{mine.prefix}/").status_code == 204
    assert client_for(root).delete(f"/api/api-keys/{other.prefix}/").status_code == 204
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.revoked and other.revoked
    assert client_for(manager2).delete("/api/api-keys/nosuchkey/").status_code == 404
