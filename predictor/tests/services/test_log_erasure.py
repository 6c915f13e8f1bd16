"""Sealed values in aggregates and batch files; erasure everywhere (issue 31), tried as an
attacker and an erasure request would."""

import csv
import gzip
import io
import json
import os
import stat
import time
from collections import Counter

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import Client

from predictor.models import (
    ModelVersion,
    Prediction,
    PredictionHour,
    RegisteredModel,
    Source,
    TrainingJob,
)
from predictor.services import registry
from predictor.services.log import aggregates
from predictor.services.registry import artifacts
from predictor.services.serving import scoring, traffic
from predictor.tests.conftest import client_for, train

SENSITIVE = ["income", "housing"]
INCOME = 43210.98  # an income nobody else sends
MARK = 31.4159  # a loan duration only user2 sends (not sensitive: it shows in archives)


def applicant(**changes) -> dict:
    record = {
        "age": 41.0,
        "income": 30000.0,
        "loan_amount": 5000.0,
        "duration_months": 12.0,
        "housing": "own",
        "purpose": "car",
        "employment": "employed",
    }
    return {**record, **changes}


@pytest.fixture
def credit(credit_dataset, settings):
    """credit v1 (production) with v2 as its shadow; income and housing sensitive."""
    settings.PREDICTION_LOG_KEYS = [Fernet.generate_key().decode()]
    v1 = train(credit_dataset, model="credit", sensitive=SENSITIVE)
    v2 = train(credit_dataset, model="credit", algorithm="decision_tree", sensitive=SENSITIVE)
    model = RegisteredModel.objects.get(name="credit")
    model.sensitive, model.public = SENSITIVE, True
    model.save()
    traffic.policy_set(model=model, routes=[], shadows=[v2.version], reason="shadow v2")
    v1.refresh_from_db()
    return v1


@pytest.fixture
def user2(django_user_model):
    return django_user_model.objects.create_user("user2", password="pw-user2-123")


def predict(client, records) -> list[int]:
    response = client.post("/api/models/credit/predict/", {"inputs": records}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["prediction_ids"]


def all_users(**key):
    return PredictionHour.objects.filter(user_key=aggregates.ALL_USERS, **key)


# --- aggregates --------------------------------------------------------------------------------


def test_a_per_user_aggregate_holds_no_figure_of_a_sensitive_feature(credit, alice, staff):
    predict(client_for(alice), [applicant(income=INCOME, housing="free")])
    theirs = PredictionHour.objects.filter(user_key=alice.pk)
    assert theirs.count() == 2  # served and shadow
    for hour in theirs:
        text = json.dumps(hour.features)
        assert "income" not in text and "housing" not in text and "free" not in text
        assert sum(hour.features["age"].values()) == 1  # other features are still counted
    for hour in all_users():  # what drift reads keeps them
        assert sum(hour.features["income"].values()) == 1
        assert hour.features["housing"] == {"free": 1}

    # A rebuild follows the same rule.
    call_command("rebuild_aggregates", stdout=io.StringIO())
    for hour in PredictionHour.objects.filter(user_key=alice.pk):
        assert "income" not in hour.features and "housing" not in hour.features
    assert all(h.features["housing"] == {"free": 1} for h in all_users())

    # Monitoring shows a sensitive feature's window without counts under PRIVACY_MIN_COUNT.
    from predictor.services import monitoring

    drift = {f["name"]: f for f in monitoring.report(version=credit)["drift"]["features"]}
    assert drift["housing"]["window"] == {} and drift["age"]["window"]  # 1 < 5
    predict(client_for(staff), [applicant(housing="free")] * 6)
    drift = {f["name"]: f for f in monitoring.report(version=credit)["drift"]["features"]}
    assert drift["housing"]["window"] == {"free": 7}


def test_small_counts_are_merged_then_dropped():
    merged = aggregates.small_counts_merged(counts={"own": 9, "rent": 3, "free": 2}, minimum=5)
    assert merged == {"own": 9, "__other__": 5} or merged == {"own": 9, aggregates.OTHER: 5}
    assert aggregates.small_counts_merged(counts={"own": 9, "rent": 3}, minimum=5) == {"own": 9}


# --- batch files -------------------------------------------------------------------------------


def csv_of(records) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def test_a_batch_result_file_holds_no_sensitive_value_and_is_private(credit, alice, settings):
    result = scoring.batch_predict_csv(
        version=credit, data=csv_of([applicant(income=INCOME, housing="free")]), user=alice
    )
    path = settings.MEDIA_ROOT / "batch-results" / f"{result.request_id}.csv"
    text = path.read_text()
    assert str(INCOME) not in text and "43210" not in text and "free" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["income"] == "***" and row["housing"] == "***" and row["age"] == "41.0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # What the owner downloads is that file.
    browser = Client()
    browser.force_login(alice)
    download = browser.get(f"/batch/{result.request_id}.csv")
    assert download.status_code == 200
    assert str(INCOME) not in b"".join(download).decode()


def test_a_queued_batch_input_file_is_private(credit, alice, settings, monkeypatch):
    settings.BATCH_SYNC_MAX_ROWS = 1
    monkeypatch.setattr(scoring.jobs, "job_enqueue", lambda job: None)  # it stays queued
    job = scoring.batch_predict_csv(version=credit, data=csv_of([applicant()] * 3), user=alice)
    path = settings.MEDIA_ROOT / "batch-inputs" / f"{job.options['request_id']}.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_prune_removes_batch_files_older_than_batch_result_days(db, settings):
    settings.BATCH_RESULT_DAYS = 7
    files = {}
    for folder in ("batch-results", "batch-inputs"):
        (settings.MEDIA_ROOT / folder).mkdir(parents=True)
        for name, days in (("old", 8), ("young", 6)):
            path = settings.MEDIA_ROOT / folder / f"batch-{name}.csv"
            path.write_text("a\n1\n")
            moment = time.time() - days * 86400
            os.utime(path, (moment, moment))
            files[(folder, name)] = path
    out = io.StringIO()
    call_command("prune_predictions", "--older-than", "30", "--dry-run", stdout=out)
    assert "would remove 2 batch files older than 7 days" in out.getvalue()
    assert all(p.exists() for p in files.values())
    out = io.StringIO()
    call_command("prune_predictions", "--older-than", "30", stdout=out)
    assert "removed 2 batch files older than 7 days" in out.getvalue()
    assert {k for k, p in files.items() if p.exists()} == {
        ("batch-results", "young"),
        ("batch-inputs", "young"),
    }


# --- erasure -----------------------------------------------------------------------------------


def figures_by_key(queryset=None) -> dict:
    """The all-users figures by key, counts without zeros, sums rounded."""
    out = {}
    for hour in queryset if queryset is not None else all_users():
        f = aggregates.Figures.from_row(hour)
        out[(hour.hour, hour.version_id, hour.source)] = {
            "predictions": f.predictions,
            "requests": f.requests,
            "labelled": f.labelled,
            "correct": f.correct,
            "latency": +f.latency,
            "outputs": +f.outputs,
            "features": {k: +v for k, v in f.features.items() if +v},
            "latency_ms_sum": round(f.latency_ms_sum, 6),
        }
    return out


def archive_text(folder) -> str:
    return "".join(gzip.open(f, "rt").read() for f in sorted(folder.glob("*.gz")))


def act_as_user2(user2, credit) -> tuple[list[int], str]:
    """user2 predicts (with a shadow each), labels one, and scores a batch file."""
    client = client_for(user2)
    ids = predict(client, [applicant(income=INCOME, housing="free", duration_months=MARK)])
    ids += predict(client, [applicant(duration_months=MARK), applicant(age=70.0)])
    response = client.post(f"/api/predictions/{ids[0]}/feedback/", {"actual": "bad"}, format="json")
    assert response.status_code == 200, response.content
    shadow = ModelVersion.objects.get(model=credit.model, version=2)
    scored = scoring.batch_predict_csv(
        version=credit, data=csv_of([applicant(duration_months=MARK)]), user=user2,
        shadows=(shadow,),
    )  # fmt: skip
    ids += scored.prediction_ids
    return ids, scored.request_id


def test_erasure_leaves_no_row_file_or_figure_of_the_person(
    credit, user2, alice, staff, settings, tmp_path
):
    predict(client_for(alice), [applicant(), applicant(housing="rent")])
    response = client_for(staff).post(
        f"/api/predictions/{Prediction.objects.filter(user=alice).first().pk}/feedback/",
        {"actual": "good"},
        format="json",
    )
    assert response.status_code == 200
    without_them = figures_by_key()
    served, request_id = act_as_user2(user2, credit)
    shadow_ids = list(Prediction.objects.filter(shadow_of__in=served).values_list("pk", flat=True))
    assert len(shadow_ids) == len(served)
    result_file = settings.MEDIA_ROOT / "batch-results" / f"{request_id}.csv"
    # A large batch of theirs still queued: its input file.
    queued = settings.MEDIA_ROOT / "batch-inputs" / "batch-queued.csv"
    queued.parent.mkdir(parents=True, exist_ok=True)
    queued.write_text("age\n1\n")
    TrainingJob.objects.create(
        kind="batch", model_name="credit", created_by=user2, options={"request_id": "batch-queued"}
    )
    assert result_file.exists()

    archive = tmp_path / "archive"
    call_command("prune_predictions", "--older-than", "0", "--archive", str(archive),
                 stdout=io.StringIO())  # fmt: skip
    assert "user2" in archive_text(archive) and str(MARK) in archive_text(archive)
    assert Prediction.objects.filter(user=user2).count() == 1  # the labelled row stays

    before = (archive_text(archive), figures_by_key(PredictionHour.objects.all()))
    out = io.StringIO()
    call_command("erase_predictions", "--user", "user2", "--archive", str(archive),
                 "--dry-run", stdout=out)  # fmt: skip
    dry = out.getvalue()
    assert (archive_text(archive), figures_by_key(PredictionHour.objects.all())) == before
    assert Prediction.objects.filter(user=user2).count() == 1
    assert result_file.exists() and queued.exists()

    out = io.StringIO()
    call_command("erase_predictions", "--user", "user2", "--archive", str(archive), stdout=out)
    done = out.getvalue()
    assert dry.replace("would remove", "removed").splitlines() == done.splitlines()[:-1]
    assert "removed 1 predictions of user2" in done
    archived = len(served) * 2 - 1  # theirs and their shadows, but the labelled row
    assert f"removed {archived} archived rows of user2" in done
    assert "removed 2 batch files of user2" in done

    # No archive, table row or batch file holds anything of theirs.
    text = archive_text(archive)
    assert "user2" not in text and str(MARK) not in text and str(INCOME) not in text
    archived_ids = {int(r["id"]) for r in csv.DictReader(io.StringIO(text)) if r.get("id")}
    assert not archived_ids & set(served + shadow_ids)
    assert len(archived_ids) == 2 * 2 - 1  # alice's rows and their shadows, but her labelled
    assert not Prediction.objects.filter(pk__in=served + shadow_ids).exists()
    assert not result_file.exists() and not queued.exists()
    assert not PredictionHour.objects.filter(user_key=user2.pk).exists()

    # The aggregates are what they were before they predicted, but for the sensitive counts
    # of their pruned rows (per-user keys never held them, the rows are gone).
    after = figures_by_key()
    assert after.keys() == without_them.keys()
    for key, want in without_them.items():
        got = after[key]
        for name in ("income", "housing"):
            got["features"].pop(name, None)
            want["features"].pop(name, None)
        assert got == want, key


def test_erasure_of_rows_still_logged_restores_every_figure(credit, user2, alice):
    predict(client_for(alice), [applicant(), applicant(housing="rent")])
    without_them = figures_by_key()
    act_as_user2(user2, credit)
    out = io.StringIO()
    call_command("erase_predictions", "--user", "user2", stdout=out)
    assert "removed 8 predictions of user2 (4 shadow rows)" in out.getvalue()
    assert figures_by_key() == without_them  # sensitive counts included, from their rows
    assert Counter(Prediction.objects.values_list("source", flat=True)) == {
        Source.API: 2,
        Source.SHADOW: 2,
    }


def test_erasure_lists_the_versions_their_feedback_trained(credit, user2, alice):
    # A version retrained on their feedback (a version records it when it is made).
    retrained = registry.version_create(
        model=credit.model,
        stored=artifacts.StoredArtifact(
            name=credit.artifact, sha256=credit.sha256, size_bytes=0, format="joblib"
        ),
        algorithm=credit.algorithm,
        schema=credit.schema,
        target_name=credit.target_name,
        classes=credit.classes,
        feedback_rows=12,
        feedback_from={"staff": 2, "users": 10, "user_ids": [user2.pk]},
    )
    out = io.StringIO()
    call_command("erase_predictions", "--user", "user2", "--dry-run", stdout=out)
    assert (
        f"versions trained with user2's feedback (retrain without it): credit v{retrained.version}"
        in out.getvalue()
    )
    out = io.StringIO()
    call_command("erase_predictions", "--user", "alice", "--dry-run", stdout=out)
    assert "no version records training with alice's feedback" in out.getvalue()
