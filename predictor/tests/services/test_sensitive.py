"""Sensitive features belong to the registered model: every version and shadow seals them,
reference statistics keep coarse bins of them only, non-staff never see their training
figures, every change of the list is recorded; CSV headers are formula-safe."""

import csv
import io
import json

import pandas as pd
import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client

from predictor.models import ModelVersion, Prediction, RegisteredModel, SensitiveChange
from predictor.services import apikeys
from predictor.services.registry.datasets import dataset_create
from predictor.services.serving import scoring, traffic
from predictor.services.training import retrain_create
from predictor.tests.conftest import client_for, csv_bytes, train

INCOME = 43210.98  # an income no training row has
APPLICANT = {
    "age": 41.0,
    "income": INCOME,
    "loan_amount": 5000.0,
    "duration_months": 12.0,
    "housing": "free",
    "purpose": "car",
    "employment": "employed",
}
RANGE = ("min", "max", "mean", "std", "missing")


@pytest.fixture
def credit(credit_dataset, settings):
    """A public credit model whose list seals income and housing (named at training)."""
    settings.PREDICTION_LOG_KEYS = [Fernet.generate_key().decode()]
    version = train(
        credit_dataset, model="credit", algorithm="decision_tree", sensitive=["income", "housing"]
    )
    RegisteredModel.objects.filter(pk=version.model_id).update(public=True)
    return ModelVersion.objects.select_related("model").get(pk=version.pk)


def row_text(pk: int) -> str:
    """Every column of a prediction row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM predictor_prediction WHERE id = %s", [pk])
        return repr(cursor.fetchone())


# --- one list, followed by every version and shadow -------------------------------------------


def test_a_training_request_sets_the_models_list_and_records_it(credit, staff):
    model = credit.model
    assert model.sensitive == ["income", "housing"]
    change = SensitiveChange.objects.get(model=model)
    assert change.old == [] and change.new == ["income", "housing"]
    assert "training request" in change.reason
    # A version trained later without naming any follows the model's list all the same.
    later = train(credit.dataset, model="credit", algorithm="knn")
    assert later.sensitive == ["income", "housing"]
    answer = client_for(staff).get("/api/models/credit/versions/2/").json()
    assert answer["sensitive"] == ["income", "housing"]
    marked = {f["name"] for f in answer["schema"] if f.get("sensitive")}
    assert marked == {"income", "housing"}
    assert SensitiveChange.objects.filter(model=model).count() == 1  # nothing new to record


def test_a_shadow_row_is_sealed_with_the_models_list(credit, manager, alice):
    shadow = train(credit.dataset, model="credit", algorithm="knn")
    # A version made before the list belonged to the model may hold none of its own.
    ModelVersion.objects.filter(pk=shadow.pk).update(sensitive=[])
    traffic.policy_set(
        model=credit.model, routes=[], shadows=[shadow.version], reason="try", user=manager
    )
    answer = client_for(alice).post(
        "/api/models/credit/predict/", {"inputs": APPLICANT}, format="json"
    )
    assert answer.status_code == 200, answer.content
    served = Prediction.objects.get(pk=answer.json()["prediction_ids"][0])
    shadowed = Prediction.objects.get(shadow_of=served.pk)
    for row in (served, shadowed):
        assert row.inputs["income"] == "***" and row.inputs["housing"] == "***"
        text = row_text(row.pk)
        assert "43210" not in text and "'free'" not in text and '"free"' not in text
        assert row.sealed  # encrypted with the log key, for staff asking for it


# --- what non-staff may see ---------------------------------------------------------------------


def _callers(alice, manager):
    key, raw = apikeys.key_create(user=manager, name="ci")
    keyed = Client(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return {"alice": client_for(alice), "api key": keyed, "anonymous": client_for(None)}


def test_non_staff_see_no_reference_statistics_and_no_range_of_a_sensitive_feature(
    credit, alice, manager, staff
):
    for who, client in _callers(alice, manager).items():
        for url in ("/api/models/credit/versions/1/", "/api/models/credit/versions/"):
            answer = client.get(url)
            assert answer.status_code == 200, (who, answer.content)
            body = answer.json()
            version = body if isinstance(body, dict) else body[0]
            assert "reference_stats" not in version, who
            schema = {f["name"]: f for f in version["schema"]}
            assert not set(RANGE) & set(schema["income"]), (who, schema["income"])
            assert schema["income"]["type"] == "numeric" and schema["income"]["sensitive"]
            assert set(schema["housing"]["categories"]) >= {"own", "rent", "free"}
            assert "min" in schema["age"]  # a feature that is not sensitive keeps its range
            assert "43210" not in answer.content.decode()
    answer = client_for(staff).get("/api/models/credit/versions/1/").json()
    assert "reference_stats" in answer
    assert "min" in {f["name"]: f for f in answer["schema"]}["income"]


def test_non_staff_get_no_range_warning_about_a_sensitive_feature(credit, alice, staff):
    far = {"inputs": {**APPLICANT, "income": 1e12, "age": 1000.0}}
    mine = client_for(alice).post("/api/models/credit/predict/", far, format="json").json()
    assert [w["feature"] for w in mine["warnings"][0]] == ["age"]
    theirs = client_for(staff).post("/api/models/credit/predict/", far, format="json").json()
    assert {w["feature"] for w in theirs["warnings"][0]} == {"age", "income"}


def test_the_model_page_shows_no_training_figure_of_a_sensitive_feature(credit, alice, staff):
    income = credit.schema[[f["name"] for f in credit.schema].index("income")]
    browser = Client()
    browser.force_login(alice)
    page = browser.get("/models/credit/?example=1")
    assert page.status_code == 200
    shown = {f["name"]: f for f in page.context["schema"]}
    assert not set(RANGE) & set(shown["income"])
    form = page.context["form"]
    assert "training range" not in form.fields["income"].help_text
    assert form.initial["income"] != round(income["mean"], 3)
    html = page.content.decode()
    assert f"{income['max']:.3f}" not in html and f"{income['mean']:.3f}" not in html
    browser.force_login(staff)
    assert (
        "min" in {f["name"]: f for f in browser.get("/models/credit/").context["schema"]}["income"]
    )


# --- reference statistics ----------------------------------------------------------------------


def test_reference_statistics_keep_coarse_bins_of_a_sensitive_feature(credit, settings):
    incomes = pd.read_csv(credit.dataset.file.path)["income"].dropna()
    stat = credit.reference_stats["income"]
    assert "sample" not in stat
    assert len(stat["edges"]) == len(stat["counts"]) + 1 and stat["counts"]
    assert min(stat["counts"]) >= settings.PRIVACY_MIN_COUNT
    stored = json.dumps(stat)
    assert not [v for v in incomes.unique() if repr(float(v)) in stored or f"{v:g}" in stored]
    housing = credit.reference_stats["housing"]["frequencies"]
    assert set(housing) <= {"own", "rent", "free"}
    assert "sample" in credit.reference_stats["age"]  # other features keep theirs


def test_a_category_seen_fewer_than_privacy_min_count_times_is_left_out(db, settings):
    from predictor.services.monitoring.reference import reference_stats_from_frame

    frame = pd.DataFrame({"city": ["a"] * 8 + ["b"] * 4 + ["rare"], "n": [1.0] * 13})
    stats = reference_stats_from_frame(X=frame, sensitive=["city", "n"])
    assert set(stats["city"]["frequencies"]) == {"a"}
    settings.PRIVACY_MIN_COUNT = 20
    stats = reference_stats_from_frame(X=frame, sensitive=["n"])
    assert stats["n"]["edges"] == [] and stats["n"]["counts"] == []  # too few rows: dropped


def test_a_retrained_version_keeps_no_raw_value_of_a_sensitive_feature(credit, staff, settings):
    client = client_for(staff)
    for _ in range(6):
        pid = client.post("/api/models/credit/predict/", {"inputs": APPLICANT}, format="json")
        pid = pid.json()["prediction_ids"][0]
        assert client.post(
            f"/api/predictions/{pid}/feedback/", {"actual": "bad"}, format="json"
        ).status_code in (200, 201)
    job = retrain_create(model=credit.model, user=staff, include_feedback=True)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    retrained = job.version
    assert retrained.feedback_rows == 6
    stored = json.dumps(retrained.reference_stats)
    assert "43210" not in stored
    assert "sample" not in retrained.reference_stats["income"]
    # Drift on it uses the binned test (there is no sample for the KS test).
    report = client.get("/api/models/credit/monitoring/?version=2").json()
    income = next(f for f in report["drift"]["features"] if f["name"] == "income")
    assert income["test"] == "chi2_binned"


# --- changing the list: every door records who, when and why ------------------------------------


def test_the_model_patch_changes_the_list_and_records_it(credit, manager, clerk, alice):
    url = "/api/models/credit/"
    body = {"sensitive": ["income", "age"], "reason": "age is personal data"}
    assert client_for(None).patch(url, body, format="json").status_code == 401
    assert client_for(alice).patch(url, body, format="json").status_code == 403
    assert client_for(clerk).patch(url, body, format="json").status_code == 403
    wrong = client_for(manager).patch(url, {"sensitive": ["salary"]}, format="json")
    assert wrong.status_code == 400 and "salary" in wrong.json()["detail"]
    answer = client_for(manager).patch(url, body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["sensitive"] == ["income", "age"]
    change = SensitiveChange.objects.filter(model=credit.model).latest("id")
    assert (change.old, change.new) == (["income", "housing"], ["income", "age"])
    assert change.created_by == manager and change.reason == "age is personal data"
    assert ModelVersion.objects.get(pk=credit.pk).sensitive == ["income", "age"]
    # The next prediction follows the new list: housing in clear, age sealed.
    pid = client_for(alice).post(
        "/api/models/credit/predict/", {"inputs": APPLICANT}, format="json"
    )
    stored = Prediction.objects.get(pk=pid.json()["prediction_ids"][0])
    assert stored.inputs["age"] == "***" and stored.inputs["housing"] == "free"


def test_the_version_patch_changes_the_models_list_and_records_it(credit, manager, clerk):
    url, body = "/api/models/credit/versions/1/", {"sensitive": []}
    assert client_for(clerk).patch(url, body, format="json").status_code == 403
    answer = client_for(manager).patch(
        "/api/models/credit/versions/1/",
        {"sensitive": ["income"], "reason": "housing is not personal"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert RegisteredModel.objects.get(pk=credit.model_id).sensitive == ["income"]
    change = SensitiveChange.objects.filter(model=credit.model).latest("id")
    assert change.new == ["income"] and change.created_by == manager
    assert change.reason == "housing is not personal"


def test_the_admin_changes_the_models_list_records_it_and_shows_the_history(credit, manager):
    browser = Client()
    browser.force_login(manager)
    url = f"/admin/predictor/registeredmodel/{credit.model_id}/change/"
    form = browser.get(url)
    assert form.status_code == 200
    data = {
        "description": "",
        "public": "on",
        "sensitive_features": ["income", "loan_amount"],
        "sensitive_reason": "loan amounts are private",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "0",
        "versions-0-id": str(credit.pk),
        "versions-0-model": str(credit.model_id),
    }
    answer = browser.post(url, data)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    model = RegisteredModel.objects.get(pk=credit.model_id)
    assert set(model.sensitive) == {"income", "loan_amount"}
    change = SensitiveChange.objects.filter(model=model).latest("id")
    assert change.created_by == manager and change.reason == "loan amounts are private"
    assert "loan amounts are private" in browser.get(url).content.decode()


# --- formula-safe CSV headers --------------------------------------------------------------------


def test_a_feature_named_like_a_formula_is_defused_in_every_csv_header(db, staff, alice):
    frame = pd.DataFrame(
        {"=1+2": [float(i % 7) for i in range(40)], "x": [float(i) for i in range(40)]}
    )
    frame["y"] = ["a" if i % 2 else "b" for i in range(40)]
    dataset = dataset_create(name="formula", file=csv_bytes(frame), target="y")
    version = train(dataset, model="formula", algorithm="decision_tree")
    client_for(alice).post(
        "/api/models/formula/predict/", {"inputs": {"=1+2": 1.0, "x": 2.0}}, format="json"
    )
    export = client_for(staff).get("/api/predictions/?format=csv&model=formula")
    header = next(csv.reader(io.StringIO(b"".join(export).decode())))
    assert "'=1+2" in header and "=1+2" not in header
    result = scoring.batch_predict_csv(version=version, data=b"=1+2,x\n1.0,2.0\n", user=alice)
    text = scoring.batch_result_csv(request_id=result.request_id, user=alice)
    header = next(csv.reader(io.StringIO(text)))
    assert "'=1+2" in header and "=1+2" not in header
