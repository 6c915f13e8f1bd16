"""The rollout pages after issue 33: the compare page right after training, the schema-change
confirmation (model page, compare page, admin), shadow failures on the traffic and compare
pages; none of it for a non-staff user."""

import json

import pytest
from django.urls import reverse

from predictor.models import Stage
from predictor.services.registry import artifacts
from predictor.services.registry.datasets import dataset_create
from predictor.tests.conftest import client_for, csv_bytes, iris_frame, train

from . import test_e2e
from .test_e2e import login, shot

browser, page = test_e2e.browser, test_e2e.page  # the browser tests' fixtures

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def fresh(iris_dataset):
    """iris v1 (production, logistic regression) and v2 (knn without petal_width), public."""
    v1 = train(iris_dataset)
    small = dataset_create(
        name="iris-3", file=csv_bytes(iris_frame().drop(columns=["petal_width"])), target="species"
    )
    v2 = train(small, algorithm="knn")
    v1.model.public = True
    v1.model.save()
    return v1, v2


def test_the_compare_page_right_after_training(fresh, client, staff, alice):
    v1, v2 = fresh
    client.force_login(alice)
    assert client.get("/models/iris/compare/?versions=1,2").status_code == 403
    client.force_login(staff)
    response = client.get("/models/iris/compare/?versions=1,2")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="holdout-table"' in html
    assert "logistic_regression" in html and "knn" in html
    assert f"{v1.metrics['accuracy']:.3f}" in html and f"{v2.metrics['accuracy']:.3f}" in html
    assert "iris-3" in html and "Features removed vs v1" in html and "petal_width" in html
    assert "On their holdouts" in html
    assert "I know the inputs change: removed petal_width" in html


def test_promoting_other_inputs_from_the_compare_page_asks(fresh, client, staff):
    v1, v2 = fresh
    client.force_login(staff)
    url = "/models/iris/compare/?versions=1,2"
    refused = client.post(url, {"promote": "2", "reason": "smaller"})
    assert refused.status_code == 400 and "petal_width" in refused.content.decode()
    v2.refresh_from_db()
    assert v2.stage != Stage.PRODUCTION
    done = client.post(url, {"promote": "2", "reason": "smaller", "confirm_schema_change": "on"})
    assert done.status_code == 302
    v2.refresh_from_db()
    assert v2.stage == Stage.PRODUCTION


def test_the_model_page_promote_form_asks(fresh, client, staff, alice):
    v1, v2 = fresh
    client.force_login(alice)
    assert "I know the inputs change" not in client.get("/models/iris/").content.decode()
    assert (
        client.post(
            "/models/iris/promote/",
            {"version": 2, "stage": "production", "reason": "x", "confirm_schema_change": "on"},
        ).status_code
        == 403
    )
    client.force_login(staff)
    html = client.get("/models/iris/").content.decode()
    assert 'id="p-confirm"' in html and "I know the inputs change: v2 removed petal_width" in html
    form = {"version": 2, "stage": "production", "reason": "smaller", "action": "promote"}
    refused = client.post("/models/iris/promote/", form, follow=True)
    assert "petal_width" in refused.content.decode()
    v2.refresh_from_db()
    assert v2.stage != Stage.PRODUCTION
    client.post("/models/iris/promote/", {**form, "confirm_schema_change": "on"})
    v2.refresh_from_db()
    assert v2.stage == Stage.PRODUCTION
    # Back to v1's inputs: a rollback is never held up.
    client.post("/models/iris/promote/", {"reason": "clients broke", "action": "rollback"})
    v1.refresh_from_db()
    assert v1.stage == Stage.PRODUCTION


def test_the_admin_promotion_asks_to_confirm_other_inputs(fresh, client, staff):
    v1, v2 = fresh
    client.force_login(staff)
    url = reverse("admin:predictor_modelversion_changelist")
    data = {"action": "make_production", "_selected_action": [str(v2.pk)]}
    asked = client.post(url, data)
    html = asked.content.decode()
    assert asked.status_code == 200 and 'id="schema-changes"' in html
    assert "removed petal_width" in html and "confirm_schema_change" in html
    refused = client.post(url, {**data, "apply": "1", "reason": "smaller"}, follow=True)
    assert "confirm the schema change" in refused.content.decode()
    v2.refresh_from_db()
    assert v2.stage != Stage.PRODUCTION
    client.post(url, {**data, "apply": "1", "reason": "smaller", "confirm_schema_change": "on"})
    v2.refresh_from_db()
    assert v2.stage == Stage.PRODUCTION


def test_a_shadow_needing_other_inputs_is_refused_on_the_traffic_page(fresh, client, staff):
    client.force_login(staff)
    bad = client.post("/models/iris/traffic/", {"routes": "", "shadows": "2", "reason": "try"})
    assert bad.status_code == 400
    assert "version 2" in bad.content.decode() and "petal_width" in bad.content.decode()


@pytest.fixture
def failing_shadow(iris_dataset, staff, alice, settings):
    """iris v1 serving, v2 (knn) its shadow whose artifact went missing, two requests."""
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    v1.model.public = True
    v1.model.save()
    body = {"routes": [], "shadows": [2], "reason": "shadow knn"}
    client_for(staff).put(
        "/api/models/iris/traffic/", json.dumps(body), content_type="application/json"
    )
    (settings.ARTIFACT_ROOT / v2.artifact).unlink()
    artifacts.cache_clear()
    for _ in range(2):
        answer = client_for(alice).post("/api/models/iris/predict/", {"inputs": ROW}, format="json")
        assert answer.status_code == 200
    return v1, v2


def test_shadow_failures_on_the_traffic_and_compare_pages(failing_shadow, client, staff, alice):
    client.force_login(alice)
    assert client.get("/models/iris/traffic/").status_code == 403
    client.force_login(staff)
    html = client.get("/models/iris/traffic/").content.decode()
    assert 'id="shadow-failures"' in html and "<td>2</td>" in html
    assert "artifact" in html.lower()
    html = client.get("/models/iris/compare/?versions=1,2").content.decode()
    assert 'class="shadow-failures">2 ' in html


def test_compare_and_promote_in_a_browser(page, live_server, fresh, staff):
    login(page, live_server, "staff", "pw-staff-123")
    page.goto(f"{live_server.url}/models/iris/compare/?versions=1,2")
    table = page.locator("#holdout-table")
    assert "knn" in table.inner_text() and "petal_width" in table.inner_text()
    shot(page, "compare-after-training")
    page.fill("#reason-2", "smaller inputs")
    page.click("button:has-text('Promote v2')")
    assert "petal_width" in page.locator("#compare-error").inner_text()
    page.fill("#reason-2", "smaller inputs")
    page.check("#confirm-2")
    page.click("button:has-text('Promote v2')")
    page.wait_for_selector("text=Version 2 is now in production.")
    fresh[1].refresh_from_db()
    assert fresh[1].stage == Stage.PRODUCTION


def test_shadow_failures_in_the_admin(failing_shadow, admin_client, client, alice):
    page = admin_client.get(reverse("admin:predictor_shadowfailure_changelist"))
    assert page.status_code == 200 and "iris v2" in page.content.decode()
    client.force_login(alice)
    assert client.get(reverse("admin:predictor_shadowfailure_changelist")).status_code == 302
