"""In a real browser: upload a churn-like CSV, look at its profile, train without its
identifier column, and see that the model does not lean on it."""

import pytest

from predictor.models import TrainingJob
from predictor.tests.conftest import csv_bytes
from predictor.tests.services.test_dataset_profile import churn_frame
from predictor.tests.web.test_e2e import SHOTS, browser, login, page, shot  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_look_and_train_without_the_identifier(page, live_server, staff):  # noqa: F811
    login(page, live_server, "staff", "pw-staff-123")
    page.set_viewport_size({"width": 1200, "height": 2200})
    page.goto(f"{live_server.url}/train/")
    path = SHOTS.parent / "churn-upload.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(churn_frame()))
    page.fill("#id_upload-name", "churn")
    page.set_input_files("#id_upload-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/train/?dataset=*")
    row = page.locator('#dataset-profile tr[data-column="customer_id"]')
    assert "identifier" in row.inner_text()
    assert "Class balance of churned" in page.inner_text("#dataset-profile")
    assert not page.is_checked("input[name=features][value=customer_id]")
    assert page.is_checked("input[name=features][value=tenure]")
    assert page.input_value("#id_model") == "churn"
    shot(page, "train-profile")
    page.select_option("#id_algorithm", "random_forest")
    page.fill("#id_cv", "0")
    page.click("#train-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    page.wait_for_selector("#job-result", timeout=60_000)
    assert page.inner_text("#job-status") == "succeeded"
    assert "customer_id (identifier)" in page.inner_text("#job-left-out")
    shot(page, "job-left-out")
    page.click("#job-result a")
    page.wait_for_selector("#drives-h")
    drives = page.locator("section[aria-labelledby=drives-h]").inner_text()
    assert "tenure" in drives and "customer_id" not in drives
    shot(page, "model-drives")
    assert TrainingJob.objects.get().options["exclude"] == ["customer_id", "row_no", "country"]
