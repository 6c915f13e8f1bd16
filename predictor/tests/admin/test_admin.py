import io
import json
import pathlib

import joblib
import pytest
import skops.io as sio
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from predictor.models import Dataset, ModelVersion, Prediction, Stage, StageTransition, TrainingJob

from ..conftest import client_for, csv_bytes, iris_frame, train

FEATURES = "sepal_length:numeric\nsepal_width:numeric\npetal_length:numeric\npetal_width:numeric"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "", "pw-root-123")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def two_versions(iris_dataset):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    return v1, v2


def iris_pipeline():
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    y = y.map(dict(enumerate(["setosa", "versicolor", "virginica"])))
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)
    ).fit(X, y)


def action(client, url, name, pks, reason=None):
    data = {"action": name, "_selected_action": [str(p) for p in pks]}
    if reason is not None:
        data.update(apply="1", reason=reason)
    return client.post(url, data)


def test_every_admin_page_renders(admin_client, two_versions, alice):
    v1, _ = two_versions
    Prediction.objects.create(
        model=v1.model, version=v1, inputs={"a": 1}, output="setosa", user=alice
    )
    TrainingJob.objects.create(dataset=v1.dataset, model_name="x", algorithm="knn")
    pages = ["/admin/"]
    for model in [Dataset, ModelVersion, TrainingJob, StageTransition, Prediction]:
        name = model._meta.model_name
        pages.append(reverse(f"admin:predictor_{name}_changelist"))
        pages.append(reverse(f"admin:predictor_{name}_change", args=[model.objects.first().pk]))
    pages.append(reverse("admin:predictor_registeredmodel_changelist"))
    pages.append(reverse("admin:predictor_registeredmodel_change", args=[v1.model.pk]))
    pages += [
        reverse("admin:predictor_dataset_add"),
        reverse("admin:predictor_trainingjob_add"),
        reverse("admin:predictor_modelversion_import"),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
    page = admin_client.get(
        reverse("admin:predictor_dataset_change", args=[v1.dataset.pk])
    ).content.decode()
    assert "First rows" in page and "5.1" in page and "categorical" in page
    page = admin_client.get(
        reverse("admin:predictor_registeredmodel_change", args=[v1.model.pk])
    ).content.decode()
    assert "Promotion history" in page and "first version of the model" in page


@pytest.mark.parametrize(
    "name,stage",
    [("make_production", "production"), ("make_staging", "staging"), ("make_archived", "archived")],
)
def test_stage_actions_ask_why_and_write_the_transition(
    admin_client, superuser, two_versions, name, stage
):
    _, v2 = two_versions
    url = reverse("admin:predictor_modelversion_changelist")
    page = action(admin_client, url, name, [v2.pk])
    assert page.status_code == 200 and "Why?" in page.content.decode()
    v2.refresh_from_db()
    assert v2.stage == Stage.NONE  # nothing happens before the reason is given
    response = action(admin_client, url, name, [v2.pk], reason="reviewed by the team")
    assert response.status_code == 302
    v2.refresh_from_db()
    assert v2.stage == stage
    t = StageTransition.objects.filter(version=v2).first()
    assert (t.to_stage, t.reason, t.created_by) == (stage, "reviewed by the team", superuser)


def test_rollback_restores_the_previous_production(admin_client, two_versions):
    v1, v2 = two_versions
    url = reverse("admin:predictor_modelversion_changelist")
    action(admin_client, url, "make_production", [v2.pk], reason="try knn")
    assert ModelVersion.objects.get(stage="production").pk == v2.pk
    url = reverse("admin:predictor_registeredmodel_changelist")
    assert (
        action(admin_client, url, "rollback", [v1.model.pk], reason="knn regressed").status_code
        == 302
    )
    assert ModelVersion.objects.get(stage="production").pk == v1.pk
    assert StageTransition.objects.filter(
        reason="knn regressed", version=v1, to_stage="production"
    ).exists()


def test_immutable_fields_do_not_change_through_a_post(admin_client, iris_version):
    url = reverse("admin:predictor_modelversion_change", args=[iris_version.pk])
    response = admin_client.post(
        url,
        {
            "notes": "looks fine",
            "algorithm": "hacked",
            "stage": "archived",
            "sha256": "0" * 64,
            "metrics": "{}",
        },
    )
    assert response.status_code == 302
    iris_version.refresh_from_db()
    assert iris_version.notes == "looks fine"
    assert iris_version.algorithm == "logistic_regression" and iris_version.stage == "production"
    assert iris_version.sha256 != "0" * 64 and iris_version.metrics["accuracy"] > 0.9


def test_versions_with_predictions_cannot_be_deleted(admin_client, iris_version):
    Prediction.objects.create(
        model=iris_version.model, version=iris_version, inputs={}, output="setosa"
    )
    url = reverse("admin:predictor_modelversion_delete", args=[iris_version.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert ModelVersion.objects.filter(pk=iris_version.pk).exists()


def test_predictions_are_read_only(admin_client, iris_version):
    p = Prediction.objects.create(
        model=iris_version.model, version=iris_version, inputs={"a": 1}, output="setosa"
    )
    url = reverse("admin:predictor_prediction_change", args=[p.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="output"' not in page
    assert admin_client.post(url, {"output": '"virginica"', "inputs": "{}"}).status_code == 403
    p.refresh_from_db()
    assert p.output == "setosa"
    assert admin_client.get(reverse("admin:predictor_prediction_add")).status_code == 403


def test_dataset_upload_through_the_admin(admin_client):
    url = reverse("admin:predictor_dataset_add")
    bad = admin_client.post(
        url, {"name": "bad", "file": SimpleUploadedFile("b.csv", b"a,a\n1,2\n")}
    )
    assert bad.status_code == 200 and "appears twice" in bad.content.decode()
    assert Dataset.objects.count() == 0
    upload = SimpleUploadedFile("iris.csv", csv_bytes(iris_frame()))
    response = admin_client.post(url, {"name": "flowers", "file": upload, "target": ""})
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert dataset.target == "species" and dataset.row_count == 150


def test_training_from_the_admin(admin_client, iris_dataset):
    url = reverse("admin:predictor_trainingjob_add")
    form = {
        "dataset": iris_dataset.pk,
        "model_name": "iris",
        "algorithm": "random_forest",
        "target": "",
        "task": "",
        "params": '{"n_trees": 3}',
        "search_space": "",
        "test_size": "0.2",
        "cv": "3",
        "random_state": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "unknown parameter" in response.content.decode()
    assert TrainingJob.objects.count() == 0
    response = admin_client.post(url, {**form, "params": '{"n_estimators": 15}'})
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert job.status == "succeeded" and job.version.params["n_estimators"] == 15
    page = admin_client.get(
        reverse("admin:predictor_trainingjob_change", args=[job.pk])
    ).content.decode()
    assert "succeeded" in page


def test_valid_skops_import_predicts_through_the_api(admin_client, alice):
    data = sio.dumps(iris_pipeline())
    response = admin_client.post(
        reverse("admin:predictor_modelversion_import"),
        {
            "model_name": "outside",
            "task": "classification",
            "target": "species",
            "features": FEATURES,
            "file": SimpleUploadedFile("m.skops", data),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    version = ModelVersion.objects.get(model__name="outside")
    assert version.artifact_format == "skops" and version.stage == "production"
    assert version.algorithm == "imported:RandomForestClassifier"
    assert version.classes == ["setosa", "versicolor", "virginica"]
    body = {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]]}
    api = client_for(alice)
    result = api.post(
        "/api/models/outside/predict/", json.dumps(body), content_type="application/json"
    )
    assert result.status_code == 200 and result.json()["predictions"] == ["setosa", "versicolor"]


def test_import_with_a_dataset_is_evaluated(admin_client, iris_dataset):
    response = admin_client.post(
        reverse("admin:predictor_modelversion_import"),
        {
            "model_name": "outside",
            "task": "classification",
            "dataset": iris_dataset.pk,
            "file": SimpleUploadedFile("m.skops", sio.dumps(iris_pipeline())),
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    version = ModelVersion.objects.get(model__name="outside")
    assert version.metrics["accuracy"] > 0.9 and version.metrics["evaluated_on"] == "iris"
    assert [f["name"] for f in version.schema] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]


class Sneaky(ClassifierMixin, BaseEstimator):
    """A type no allow-list names."""

    def fit(self, X, y):
        self.classes_ = sorted(set(y))
        return self

    def predict(self, X):
        return [self.classes_[0]] * len(X)


def test_skops_with_a_type_outside_the_allow_list_is_refused(admin_client):
    data = sio.dumps(Sneaky().fit([[0]], ["a"]))
    response = admin_client.post(
        reverse("admin:predictor_modelversion_import"),
        {
            "model_name": "sneaky",
            "task": "classification",
            "target": "y",
            "features": "x:numeric",
            "file": SimpleUploadedFile("m.skops", data),
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "outside the server&#x27;s allow-list" in page
    assert "predictor.tests.admin.test_admin.Sneaky" in page
    assert not ModelVersion.objects.exists()


class Marker:
    """Unpickling this writes a file: the proof that loading ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_the_marker_pickle_really_runs_code_when_loaded(tmp_path):
    marker = tmp_path / "proof"
    buffer = io.BytesIO()
    joblib.dump(Marker(str(marker)), buffer)
    joblib.load(io.BytesIO(buffer.getvalue()))
    assert marker.exists()


@pytest.mark.parametrize("allow", [False, True])
def test_pickle_that_would_run_code_is_refused(
    admin_client, client, settings, tmp_path, django_user_model, allow
):
    settings.ALLOW_PICKLE_IMPORT = allow
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    joblib.dump(Marker(str(marker)), buffer)
    form = {
        "model_name": "evil",
        "task": "classification",
        "target": "y",
        "features": "x:numeric",
        "file": SimpleUploadedFile("m.joblib", buffer.getvalue()),
    }
    if allow:
        # Allowed by the setting, but only for superusers: a staff manager is refused.
        manager = django_user_model.objects.create_user("mgr", password="pw", is_staff=True)
        manager.groups.add(Group.objects.get(name="Model managers"))
        client.force_login(manager)
        response = client.post(reverse("admin:predictor_modelversion_import"), form)
        assert "only superusers" in response.content.decode()
    else:
        response = admin_client.post(reverse("admin:predictor_modelversion_import"), form)
        assert "only skops files" in response.content.decode()
    assert not marker.exists()
    assert not ModelVersion.objects.exists()


def test_superuser_pickle_import_when_allowed_shows_a_warning(admin_client, settings):
    settings.ALLOW_PICKLE_IMPORT = True
    buffer = io.BytesIO()
    joblib.dump(iris_pipeline(), buffer)
    response = admin_client.post(
        reverse("admin:predictor_modelversion_import"),
        {
            "model_name": "pickled",
            "task": "classification",
            "target": "species",
            "features": FEATURES,
            "file": SimpleUploadedFile("m.joblib", buffer.getvalue()),
        },
        follow=True,
    )
    assert "could have run code" in response.content.decode()
    assert ModelVersion.objects.get().artifact_format == "joblib"


def test_a_model_that_cannot_predict_its_schema_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:predictor_modelversion_import"),
        {
            "model_name": "wrong",
            "task": "classification",
            "target": "y",
            "features": "only_one:numeric",
            "file": SimpleUploadedFile("m.skops", sio.dumps(iris_pipeline())),
        },
    )
    assert "failed to predict a sample row" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_staff_without_the_group_cannot_manage(client, django_user_model, two_versions):
    _, v2 = two_versions
    plain = django_user_model.objects.create_user("plain", password="pw", is_staff=True)
    client.force_login(plain)
    assert client.get(reverse("admin:predictor_modelversion_import")).status_code == 403
    assert client.get(reverse("admin:predictor_modelversion_changelist")).status_code == 403
    response = action(
        client,
        reverse("admin:predictor_modelversion_changelist"),
        "make_production",
        [v2.pk],
        reason="x",
    )
    assert response.status_code == 403
    v2.refresh_from_db()
    assert v2.stage == "none"

    manager = django_user_model.objects.create_user("manager", password="pw", is_staff=True)
    manager.groups.add(Group.objects.get(name="Model managers"))
    client.force_login(manager)
    assert client.get(reverse("admin:predictor_modelversion_import")).status_code == 200
    response = action(
        client,
        reverse("admin:predictor_modelversion_changelist"),
        "make_production",
        [v2.pk],
        reason="ok",
    )
    assert response.status_code == 302
    v2.refresh_from_db()
    assert v2.stage == "production"
    assert client.get("/admin/auth/user/").status_code == 403


def test_prediction_changelist_avoids_full_counts(
    admin_client, iris_version, django_assert_max_num_queries
):
    Prediction.objects.bulk_create(
        [
            Prediction(model=iris_version.model, version=iris_version, inputs={}, output="setosa")
            for _ in range(120)
        ]
    )
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:predictor_prediction_changelist"))
    assert response.status_code == 200 and "120" in response.content.decode()


def test_traffic_policy_set_in_the_admin_is_validated_and_recorded(admin_client, iris_dataset):
    from predictor.models import TrafficChange, TrafficPolicy
    from predictor.tests.conftest import train

    v1 = train(iris_dataset)
    train(iris_dataset, algorithm="knn")
    url = "/admin/predictor/trafficpolicy/add/"
    bad = admin_client.post(url, {"model": v1.model_id, "routes_text": "1:50, 2:20", "why": "x"})
    assert bad.status_code == 200 and "sum to 70" in bad.content.decode()
    assert not TrafficPolicy.objects.exists()
    ok = admin_client.post(
        url,
        {"model": v1.model_id, "routes_text": "1:80, 2:20", "shadows_text": "", "why": "canary"},
    )
    assert ok.status_code == 302
    policy = TrafficPolicy.objects.get()
    assert policy.routes == [{"version": 1, "weight": 80}, {"version": 2, "weight": 20}]
    change = TrafficChange.objects.get()
    assert change.reason == "canary" and change.created_by.is_superuser


def test_the_model_page_labels_its_traffic_policy_and_its_promotion_history(
    admin_client, iris_version
):
    page = admin_client.get(
        reverse("admin:predictor_registeredmodel_change", args=[iris_version.model.pk])
    ).content.decode()
    assert page.count("Traffic policy:") == 1
    assert page.count("Promotion history:") == 1
