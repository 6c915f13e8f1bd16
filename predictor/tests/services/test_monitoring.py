"""Monitoring: drift per feature, live accuracy, statuses, alerts, and who may see them."""

import io
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from predictor.models import MonitoringAlert, MonitorState, Prediction
from predictor.services import monitoring
from predictor.services.demo import credit_risk_frame
from predictor.services.errors import InvalidInput
from predictor.services.monitoring import alerts
from predictor.services.serving import inference
from predictor.tests.conftest import train

NUMERIC = ["age", "income", "loan_amount", "duration_months"]
CATEGORICAL = ["housing", "purpose", "employment"]


@pytest.fixture
def credit(credit_dataset):
    return train(
        credit_dataset, model="credit", algorithm="random_forest", params={"n_estimators": 20}
    )


def records(frame):
    out = []
    for row in frame.drop(columns=["risk"]).to_dict("records"):
        out.append(
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        )
    return out


def predict_rows(version, rows):
    for start in range(0, len(rows), 100):
        inference.predict(version=version, records=rows[start : start + 100])


def by_name(report):
    return {f["name"]: f for f in report["drift"]["features"]}


def test_rows_like_the_training_data_do_not_drift(credit):
    predict_rows(credit, records(credit_risk_frame(400, seed=1)))  # fresh draws, same law
    report = monitoring.report(version=credit)
    assert report["drift"]["rows"] == 400
    features = by_name(report)
    assert set(features) == set(NUMERIC + CATEGORICAL)
    assert all(f["status"] != "drift" for f in features.values()), features
    assert all(f["test"] == "ks" for n, f in features.items() if n in NUMERIC)
    assert all(f["test"] == "chi2" for n, f in features.items() if n in CATEGORICAL)
    assert report["drift"]["status"] in ("ok", "warn")
    assert report["live"] is None


def test_shifted_features_are_flagged_and_only_those(credit):
    frame = credit_risk_frame(400, seed=2)
    frame["age"] = frame["age"] + 30  # older than anyone in training
    frame["loan_amount"] = frame["loan_amount"] * 4
    frame["housing"] = "free"  # 10% in training, everyone now
    predict_rows(credit, records(frame))
    report = monitoring.report(version=credit)
    features = by_name(report)
    drifting = {n for n, f in features.items() if f["status"] == "drift"}
    assert drifting == {"age", "loan_amount", "housing"}, {n: f["psi"] for n, f in features.items()}
    for name in drifting:
        assert features[name]["psi"] >= 0.25
    assert features["age"]["p_value"] < 1e-10
    assert report["drift"]["status"] == "drift" and report["status"] == "drift"
    worst_first = [f["status"] for f in report["drift"]["features"]][:3]
    assert worst_first == ["drift"] * 3


def test_too_few_rows_say_insufficient_data(credit):
    predict_rows(credit, records(credit_risk_frame(50, seed=3)))
    report = monitoring.report(version=credit)
    assert report["drift"]["status"] == "insufficient_data" and report["drift"]["rows"] == 50
    assert report["status"] == "insufficient_data"


def test_a_version_without_reference_is_unavailable(credit):
    # A version made before training distributions were recorded (an older import, say).
    model = type(credit)
    fields = {
        f.name: getattr(credit, f.name)
        for f in model._meta.concrete_fields
        if f.name not in ("id", "version", "stage", "created_at")
    }
    old = model.objects.create(**{**fields, "reference_stats": {}, "version": 2, "stage": "none"})
    predict_rows(old, records(credit_risk_frame(150, seed=4)))
    assert monitoring.report(version=old)["drift"]["status"] == "unavailable"


def test_live_accuracy_100_feedbacks_80_right_is_0_8(iris_version, staff):
    rows = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    ids = inference.predict(version=iris_version, records=rows * 100).prediction_ids
    predicted = Prediction.objects.get(pk=ids[0]).output
    other = next(c for c in iris_version.classes if c != predicted)
    for i, pid in enumerate(ids):
        inference.prediction_feedback(
            prediction=Prediction.objects.get(pk=pid),
            actual=predicted if i < 80 else other,
            user=staff,  # trusted: staff's figures decide `degraded`
        )
    live = monitoring.report(version=iris_version)["live"]
    assert live["labelled"] == 100 and live["accuracy"] == 0.8
    assert live["holdout"]["accuracy"] == iris_version.metrics["accuracy"]
    assert 0 < live["f1_macro"] < 1
    # Live accuracy 0.8 is far below the holdout figure: degraded, the worst status.
    assert monitoring.report(version=iris_version)["status"] == "degraded"


def test_regression_live_metrics(diabetes_dataset):
    version = train(diabetes_dataset, model="diabetes", algorithm="ridge")
    record = {f["name"]: f["mean"] for f in version.schema}
    ids = inference.predict(version=version, records=[record] * 4).prediction_ids
    output = Prediction.objects.get(pk=ids[0]).output
    for pid, error in zip(ids, [10, -10, 20, -20]):
        inference.prediction_feedback(
            prediction=Prediction.objects.get(pk=pid), actual=output + error
        )
    report = monitoring.report(version=version)
    live = report["live"]
    assert live["mae"] == pytest.approx(15.0)
    assert live["rmse"] == pytest.approx(np.sqrt((100 + 100 + 400 + 400) / 4))
    assert report["outputs"]["mean"] == pytest.approx(output)


def test_traffic_buckets_and_window_errors(iris_version):
    rows = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    for _ in range(3):
        inference.predict(version=iris_version, records=rows * 2)
    report = monitoring.report(
        version=iris_version, bucket="minute", since=timezone.now() - timedelta(minutes=5)
    )
    assert sum(p["predictions"] for p in report["traffic"]) == 6
    assert sum(p["requests"] for p in report["traffic"]) == 3
    assert report["traffic"][0]["latency_ms_p50"] is not None
    hourly = monitoring.report(version=iris_version)
    assert sum(p["predictions"] for p in hourly["traffic"]) == 6
    assert hourly["outputs"] == {Prediction.objects.first().output: 6}
    now = timezone.now()
    with pytest.raises(InvalidInput, match="before"):
        monitoring.report(version=iris_version, since=now, until=now - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="minute, hour or day"):
        monitoring.report(version=iris_version, bucket="week")


# --- the API and the page ---------------------------------------------------------------------


def test_monitoring_is_staff_only(
    iris_version, anon_client, alice_client, staff_client, client, alice, staff
):
    url = "/api/models/iris/monitoring/"
    assert anon_client.get(url).status_code == 401
    assert alice_client.get(url).status_code == 403
    answer = staff_client.get(url)
    assert answer.status_code == 200 and answer.json()["model"] == "iris"
    assert set(answer.json()) >= {"traffic", "outputs", "live", "drift", "status", "since", "until"}
    assert staff_client.get(url + "?bucket=week").status_code == 400
    assert staff_client.get(url + "?since=yesterday").status_code == 400
    assert staff_client.get(url + "?version=9").status_code == 404
    assert staff_client.get("/api/models/nope/monitoring/").status_code == 404
    page = "/models/iris/monitoring/"
    assert client.get(page).status_code == 302
    client.force_login(alice)
    assert client.get(page).status_code == 403
    client.force_login(staff)
    assert client.get(page).status_code == 200


def test_the_page_renders_for_every_demo_model(client, staff, settings):
    call_command("load_demo", stdout=io.StringIO())
    client.force_login(staff)
    from predictor.models import RegisteredModel

    names = list(RegisteredModel.objects.values_list("name", flat=True))
    assert len(names) >= 3
    for name in names:
        response = client.get(f"/models/{name}/monitoring/")
        assert response.status_code == 200, name
        assert "Drift by feature" in response.content.decode()
        assert (
            client.get(f"/models/{name}/monitoring/?bucket=day&since=2020-01-01").status_code == 200
        )
    assert client.get(f"/models/{names[0]}/monitoring/?since=nonsense").status_code == 400


# --- alerts -----------------------------------------------------------------------------------


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield Hook.received
    server.shutdown()


def test_a_status_change_writes_one_alert_and_one_webhook_post(credit, webhook):
    out = io.StringIO()
    call_command("monitor", stdout=out)  # no traffic: insufficient data, no alert
    assert MonitoringAlert.objects.count() == 0 and webhook == []
    assert MonitorState.objects.get(version=credit).status == "insufficient_data"

    frame = credit_risk_frame(300, seed=5)
    frame["age"] = frame["age"] + 30
    predict_rows(credit, records(frame))
    call_command("monitor", stdout=out)
    alert = MonitoringAlert.objects.get()
    assert (alert.from_status, alert.to_status) == ("ok", "drift") and alert.delivered
    assert "age" in alert.summary
    assert len(webhook) == 1 and webhook[0]["model"] == "credit" and webhook[0]["to"] == "drift"

    call_command("monitor", stdout=out)  # unchanged: nothing new
    assert MonitoringAlert.objects.count() == 1 and len(webhook) == 1
    assert "1 versions checked, 0 alerts" in out.getvalue().splitlines()[-1]


def test_a_failing_webhook_is_logged_not_fatal(credit, settings):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens-here"
    settings.ALERT_WEBHOOK_TIMEOUT = 0.5
    frame = credit_risk_frame(300, seed=6)
    frame["loan_amount"] = frame["loan_amount"] * 5
    predict_rows(credit, records(frame))
    checked = alerts.monitor_all()
    assert checked[0].alert is not None and checked[0].alert.delivered is False


def test_a_broken_artifact_is_an_alert(iris_version, settings):
    from predictor.services.registry import artifacts

    (settings.ARTIFACT_ROOT / iris_version.artifact).write_bytes(b"tampered")
    artifacts.cache_clear()
    call_command("monitor", stdout=io.StringIO())
    alert = MonitoringAlert.objects.get(version=iris_version)
    assert alert.to_status == "degraded" and "cannot serve" in alert.summary
