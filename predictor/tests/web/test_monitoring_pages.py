"""The home page's monitoring column and the monitoring page (issue 33): statuses without
`manage.py monitor`, insufficient data rather than red, the interval, missing shares."""

import numpy as np
import pytest

from predictor.models import MonitoringAlert, MonitorState, Prediction
from predictor.services.demo import credit_risk_frame
from predictor.services.serving import inference
from predictor.tests.conftest import train
from predictor.tests.web.test_e2e import browser, login, page, shot  # noqa: F401 (fixtures)

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def one_wrong_label(version, user):
    pid = inference.predict(version=version, records=[SETOSA]).prediction_ids[0]
    row = Prediction.objects.get(pk=pid)
    other = next(c for c in version.classes if c != row.output)
    inference.prediction_feedback(prediction=row, actual=other, user=user)


def test_home_shows_a_status_for_a_model_with_traffic_without_a_monitor_run(
    client, iris_version, staff
):
    client.force_login(staff)
    assert "no traffic" in client.get("/").content.decode()  # nothing to judge yet
    one_wrong_label(iris_version, staff)
    assert not MonitorState.objects.exists()  # nobody ran `manage.py monitor`
    html = client.get("/").content.decode()
    assert "insufficient data (1 of 30 labels)" in html
    assert "degraded" not in html and ">open<" not in html
    assert MonitorState.objects.get(version=iris_version).status == "insufficient_data"
    assert not MonitoringAlert.objects.exists()


def test_a_user_sees_no_monitoring_status_and_computes_none(client, iris_version, alice, staff):
    one_wrong_label(iris_version, staff)
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "insufficient data" not in html and "Monitoring" not in html
    assert not MonitorState.objects.exists()
    assert client.get("/models/iris/monitoring/").status_code == 403


def test_the_monitoring_page_says_insufficient_data_and_gives_the_interval(
    client, iris_version, staff
):
    one_wrong_label(iris_version, staff)
    client.force_login(staff)
    html = client.get("/models/iris/monitoring/").content.decode()
    assert "insufficient data (1 of 30 labels)" in html
    assert 'id="live-interval"' in html and "95% interval 0.000–" in html
    assert "status-degraded" not in html


def test_the_monitoring_page_shows_each_features_missing_share(client, credit_dataset, staff):
    credit = train(credit_dataset, model="credit", algorithm="decision_tree")
    frame = credit_risk_frame(150, seed=1).dropna()
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame.drop(columns=["risk"]).to_dict("records")
    ]
    inference.predict(version=credit, records=rows)
    client.force_login(staff)
    html = client.get("/models/credit/monitoring/").content.decode()
    assert "Missing (training → window)" in html
    reference = 100 * credit.reference_stats["income"]["missing"]
    assert f"{reference:.1f}% → 0.0%" in html


@pytest.mark.django_db(transaction=True)
def test_staff_see_statuses_on_the_home_page_in_a_browser(page, live_server, iris_dataset, staff):  # noqa: F811
    version = train(iris_dataset)
    one_wrong_label(version, staff)
    login(page, live_server, "staff", "pw-staff-123")
    cell = page.locator("td.monitor-cell").first
    assert cell.inner_text() == "insufficient data (1 of 30 labels)"
    shot(page, "home-monitoring")
    cell.locator("a").click()
    page.wait_for_selector("#drift-table")
    assert page.inner_text("#overall-status") == "insufficient data (1 of 30 labels)"
    assert "95% interval" in page.inner_text("#live-interval")
    shot(page, "monitoring-insufficient")
