"""The API's dataset profile, and training's `exclude` and default model name."""

import pytest

from predictor.services.registry.datasets import dataset_create
from predictor.tests.conftest import client_for, csv_bytes
from predictor.tests.services.test_dataset_profile import churn_frame


@pytest.fixture
def churn(db):
    return dataset_create(name="churn", file=csv_bytes(churn_frame()), target="churned")


def test_a_dataset_shows_its_profile(churn, staff):
    body = client_for(staff).get(f"/api/datasets/{churn.pk}/").json()
    profile = {c["name"]: c for c in body["profile"]}
    assert profile["customer_id"] == {
        "name": "customer_id",
        "type": "categorical",
        "missing": 0.0,
        "distinct": 60,
        "note": "identifier",
    }
    assert profile["country"]["note"] == "constant"
    assert profile["tenure"]["note"] is None
    # The fields it had before are all still there.
    assert {"id", "name", "target", "row_count", "columns", "sha256"} <= set(body)


def test_an_upload_answers_with_the_profile(staff, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("c.csv", csv_bytes(churn_frame()), content_type="text/csv")
    response = client_for(staff).post(
        "/api/datasets/", {"name": "churn2", "file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert {c["name"]: c["note"] for c in response.json()["profile"]}["row_no"] == "identifier"


def test_a_semicolon_upload_is_named(staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("c.csv", b"a;b\n1;2\n3;4\n5;6\n7;8\n9;0\n")
    response = client_for(staff).post(
        "/api/datasets/", {"name": "semi", "file": upload}, format="multipart"
    )
    assert response.status_code == 400
    assert "looks separated by ';'" in str(response.json())


def test_a_user_cannot_read_a_profile(churn, alice):
    assert client_for(alice).get(f"/api/datasets/{churn.pk}/").status_code == 403
    assert client_for().get(f"/api/datasets/{churn.pk}/").status_code == 401


def test_training_without_model_and_exclude_uses_the_defaults(churn, staff):
    response = client_for(staff).post(
        "/api/training-jobs/",
        {"dataset": "churn", "algorithm": "logistic_regression", "cv": 0},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["model"] == "churn"
    assert job["options"]["exclude"] == ["customer_id", "row_no", "country"]
    assert "customer_id (identifier)" in job["options"]["left_out"]
    assert job["status"] == "succeeded", job["error"]
    version = client_for(staff).get("/api/models/churn/versions/1/").json()
    assert [f["name"] for f in version["schema"]] == ["tenure", "plan"]


def test_training_with_an_empty_exclude_keeps_every_column(churn, staff):
    response = client_for(staff).post(
        "/api/training-jobs/",
        {
            "dataset": churn.pk,
            "model": "keep",
            "algorithm": "decision_tree",
            "cv": 0,
            "exclude": [],
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["options"]["exclude"] == []
    version = client_for(staff).get("/api/models/keep/versions/1/").json()
    assert "customer_id" in [f["name"] for f in version["schema"]]


@pytest.mark.parametrize(
    ("exclude", "words"), [(["nope"], "'nope'"), (["churned"], "the target 'churned'")]
)
def test_a_bad_exclude_is_a_400_naming_it(churn, staff, exclude, words):
    response = client_for(staff).post(
        "/api/training-jobs/",
        {"dataset": "churn", "algorithm": "logistic_regression", "exclude": exclude},
        format="json",
    )
    assert response.status_code == 400
    assert "exclude" in str(response.json())
    assert words in str(response.json())


def test_a_user_cannot_train(churn, alice):
    response = client_for(alice).post(
        "/api/training-jobs/",
        {"dataset": "churn", "algorithm": "logistic_regression", "exclude": []},
        format="json",
    )
    assert response.status_code == 403


def test_the_train_command_takes_exclude_and_defaults_the_model(churn):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("train", dataset="churn", algorithm="decision_tree", cv=0, stdout=out)
    assert "model churn version 1" in out.getvalue()
    assert "left out: customer_id (identifier)" in out.getvalue()
    out = io.StringIO()
    call_command(
        "train", dataset="churn", algorithm="decision_tree", cv=0, exclude="plan", stdout=out
    )
    assert "left out: plan (asked)" in out.getvalue()
    with pytest.raises(CommandError, match="'nope'"):
        call_command("train", dataset="churn", algorithm="decision_tree", exclude="nope")


def test_the_admin_job_form_takes_exclude(churn, django_user_model, client):
    from django.urls import reverse

    from predictor.models import TrainingJob

    admin = django_user_model.objects.create_superuser("root", password="pw-root-123")
    client.force_login(admin)
    url = reverse("admin:predictor_trainingjob_add")
    form = {
        "dataset": churn.pk,
        "model_name": "adm",
        "algorithm": "decision_tree",
        "test_size": 0.2,
        "cv": 0,
        "random_state": 0,
        "params": "{}",
    }
    response = client.post(url, {**form, "leave_out": "nope"})
    assert response.status_code == 200 and "&#x27;nope&#x27;" in response.content.decode()
    client.post(url, {**form, "leave_out": "plan, tenure"})
    assert TrainingJob.objects.get().options["exclude"] == ["plan", "tenure"]


def test_the_admin_dataset_page_shows_the_notes(churn, django_user_model, client):
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123")
    client.force_login(admin)
    page = client.get(f"/admin/predictor/dataset/{churn.pk}/change/").content.decode()
    assert "<td>identifier</td>" in page and "<td>constant</td>" in page
