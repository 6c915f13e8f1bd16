import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.models import Dataset, Prediction, TrainingJob

from ..conftest import csv_bytes, iris_frame, train

SETOSA = {"sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "1.4", "petal_width": "0.2"}
HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def upload_batch(client, body: bytes):
    return client.post(
        "/models/iris/batch/", {"file": SimpleUploadedFile("x.csv", body), "version": 1}
    )


@pytest.fixture
def secret_version(iris_dataset):
    return train(
        iris_dataset, model="secret", algorithm="random_forest", params={"n_estimators": 10}
    )


def test_home_lists_what_the_visitor_may_use(iris_version, secret_version, client, alice):
    page = client.get("/").content.decode()
    assert "iris" in page and "secret" not in page and "accuracy" in page
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "secret" in page and "Log out" in page


def test_model_page_shows_versions_schema_importance_and_form(iris_version, client):
    response = client.get("/models/iris/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in [
        "Versions",
        "Input schema",
        "What drives version 1",
        "Confusion matrix",
        'name="sepal_length"',
        "training range 4.3 to 7.9",
        "Fill with a typical example",
        "csrfmiddlewaretoken",
    ]:
        assert text in page, text
    assert re.search(r'class="bar" style="width: 100\.0%"', page)
    assert re.search(r'<span class="bar-label">petal_(width|length)</span>', page)


def test_predict_through_the_form(iris_version, client, alice):
    client.force_login(alice)
    response = client.post("/models/iris/", {**SETOSA, "version": 1})
    assert response.status_code == 302
    prediction = Prediction.objects.get()
    assert prediction.source == "web" and prediction.user == alice and prediction.output == "setosa"
    assert prediction.inputs == {k: float(v) for k, v in SETOSA.items()}
    page = client.get(response["Location"]).content.decode()
    assert 'id="predicted">setosa<' in page and "Class probabilities" in page


def test_form_errors_stand_next_to_their_field_and_store_nothing(iris_version, client):
    for value, message in [
        ("abc", "must be a number"),
        ("1e999", "must be a finite number"),
        ("nan", "must be a number"),
    ]:
        response = client.post("/models/iris/", {**SETOSA, "petal_width": value, "version": 1})
        assert response.status_code == 400
        page = response.content.decode()
        field = page[page.index('for="id_petal_width"') :]
        field = field[: field.index("</div>\n</div>") if "</div>\n</div>" in field else 800]
        assert message in field, (value, field)
    assert Prediction.objects.count() == 0


def test_blank_numbers_are_imputed(iris_version, client):
    response = client.post("/models/iris/", {**SETOSA, "petal_width": "", "version": 1})
    assert response.status_code == 302
    assert Prediction.objects.get().inputs["petal_width"] is None


def test_anonymous_visitor_sees_own_result_only(iris_version, client, alice, bob):
    response = client.post("/models/iris/", {**SETOSA, "version": 1})
    url = response["Location"]
    assert client.get(url).status_code == 200
    from django.test import Client

    other = Client()
    other.force_login(bob)
    assert other.get(url).status_code == 404


def test_private_model_needs_login(secret_version, client):
    response = client.get("/models/secret/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get("/models/nothing/").status_code == 404


def test_example_fill_without_javascript(iris_version, client):
    page = client.get("/models/iris/?example=1").content.decode()
    assert re.search(r'name="sepal_length" value="5\.8', page)


def test_feedback_form(iris_version, client, alice):
    client.force_login(alice)
    client.post("/models/iris/", {**SETOSA, "version": 1})
    prediction = Prediction.objects.get()
    url = f"/predictions/{prediction.pk}/"
    assert client.post(url, {"actual": "rose"}).status_code == 400
    # Nothing is chosen for the person: the empty choice comes first and is selected, and
    # sending it stores nothing.
    page = client.get(url).content.decode()
    select = re.search(r'<select name="actual"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"', select)[0] == ""
    assert "selected" not in select.split("</option>")[1]
    response = client.post(url, {"actual": ""})
    assert response.status_code == 400 and "Choose the right answer" in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.actual is None
    response = client.post(url, {"actual": "versicolor"})
    assert response.status_code == 302
    prediction.refresh_from_db()
    assert prediction.actual == "versicolor"
    assert "the answer was stored" in client.get(response["Location"]).content.decode()


def test_history_filters_charts_and_pagination(iris_version, client, alice, bob):
    client.force_login(alice)
    for _ in range(3):
        client.post("/models/iris/", {**SETOSA, "version": 1})
    Prediction.objects.create(
        model=iris_version.model, version=iris_version, inputs={}, output="virginica", user=bob
    )
    page = client.get("/history/").content.decode()
    assert page.count('href="/predictions/') == 3
    assert "Predictions per day" in page and "iris: predicted classes" in page
    # The charts count alice's rows only (bob's virginica is not hers), with no total count
    # of the whole log anywhere on the page.
    charts = client.get("/history/").context["charts"]
    assert charts["total"] == 3 and [b["label"] for b in charts["models"][0]["bars"]] == ["setosa"]
    assert " of " not in re.sub(r"<[^>]+>", "", page).split("Download CSV")[0].split("</table>")[-1]
    assert client.get("/history/?source=batch").content.decode().count('href="/predictions/') == 0
    assert client.get("/history/?since=not-a-date").status_code == 400
    today = Prediction.objects.first().created_at.date().isoformat()
    assert client.get(f"/history/?since={today}").content.decode().count('href="/predictions/') == 3
    assert (
        client.get("/history/?until=2000-01-01").content.decode().count('href="/predictions/') == 0
    )
    client.logout()
    assert client.get("/history/").status_code == 302


def test_batch_scoring_round_trip(iris_version, client, alice):
    client.force_login(alice)
    body = f"{HEADER}\n5.1,3.5,1.4,0.2\n6.7,3.1,4.4,1.4\n6.3,3.3,6.0,2.5\n".encode()
    response = upload_batch(client, body)
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 rows scored" in page
    link = re.search(r'id="download" href="([^"]+)"', page).group(1)
    csv_text = client.get(link).content.decode()
    lines = csv_text.splitlines()
    assert (
        lines[0]
        == HEADER
        + ",prediction_id,prediction,probability_setosa,probability_versicolor,"
        + "probability_virginica"
    )
    assert [line.split(",")[5] for line in lines[1:]] == ["setosa", "versicolor", "virginica"]
    assert Prediction.objects.filter(source="batch").count() == 3


def test_batch_rejects_bad_rows_by_line_and_stores_nothing(iris_version, client, alice):
    client.force_login(alice)
    body = f"{HEADER}\n5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n5.1,3.5,1.4,1e999\n".encode()
    response = upload_batch(client, body)
    assert response.status_code == 400
    page = response.content.decode()
    assert "line 3: feature &#x27;sepal_width&#x27; must be a number" in page
    assert "line 4: feature &#x27;petal_width&#x27; must be a finite number" in page
    response = upload_batch(client, b"a,b\n1,2\n")
    assert "no column for feature" in response.content.decode()
    assert Prediction.objects.count() == 0
    # Columns outside the schema (an id, say) are ignored; only missing features are errors.
    response = upload_batch(client, f"id,{HEADER}\n7,5.1,3.5,1.4,0.2\n".encode())
    assert response.status_code == 200 and "1 rows scored" in response.content.decode()


def test_batch_download_is_private(iris_version, client, alice, bob):
    client.force_login(alice)
    body = f"{HEADER}\n5.1,3.5,1.4,0.2\n".encode()
    page = upload_batch(client, body).content.decode()
    link = re.search(r'id="download" href="([^"]+)"', page).group(1)
    client.force_login(bob)
    assert client.get(link).status_code == 404


def test_staff_pages_redirect_or_forbid(client, alice):
    assert client.get("/train/").status_code == 302
    client.force_login(alice)
    assert client.get("/train/").status_code == 403
    assert client.get("/jobs/1/").status_code == 403


def test_train_page_uploads_and_trains(client, staff):
    client.force_login(staff)
    assert client.get("/train/").status_code == 200
    upload = SimpleUploadedFile("iris.csv", csv_bytes(iris_frame()))
    response = client.post(
        "/train/", {"upload-name": "flowers", "upload-file": upload, "upload-target": ""}
    )
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="flowers")
    page = client.get(response["Location"]).content.decode()
    assert '<option value="species" selected>' in page
    response = client.post(
        "/train/",
        {
            "dataset": dataset.pk,
            "target": "species",
            "model": "flowers",
            "algorithm": "random_forest",
            "param_n_estimators": "15",
            "param_max_depth": "3",
            "param_C": "7",
            "test_size": "0.2",
            "cv": "3",
        },
    )
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert job.params == {"n_estimators": 15, "max_depth": 3}
    page = client.get(response["Location"]).content.decode()
    assert "succeeded" in page and "flowers v1" in page and "accuracy" in page


def test_train_page_shows_errors(client, staff, iris_dataset):
    client.force_login(staff)
    response = client.post(
        "/train/",
        {
            "dataset": iris_dataset.pk,
            "target": "species",
            "model": "x",
            "algorithm": "random_forest",
            "param_n_estimators": "-4",
            "test_size": "0.2",
            "cv": "3",
        },
    )
    assert response.status_code == 400 and "n_estimators" in response.content.decode()
    bad = SimpleUploadedFile("bad.csv", b"a,a\n1,2\n")
    response = client.post("/train/", {"upload-name": "bad", "upload-file": bad})
    assert response.status_code == 400 and "appears twice" in response.content.decode()
    assert TrainingJob.objects.count() == 0 and Dataset.objects.count() == 1


def test_job_page_without_javascript_refreshes(client, staff, iris_dataset):
    job = TrainingJob.objects.create(
        dataset=iris_dataset, model_name="x", algorithm="knn", progress=0.4
    )
    client.force_login(staff)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert 'value="0.4"' in page


def test_login_and_logout(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    assert "alice" in client.get("/").content.decode()
    assert client.post("/logout/").status_code == 302
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200


def test_csrf_is_enforced(iris_version, alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/models/iris/", {**SETOSA, "version": 1}).status_code == 403
    assert Prediction.objects.count() == 0


def test_unknown_page_is_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and b"Not found" in response.content


def test_feedback_form_for_a_regression_model(diabetes_dataset, client, alice):
    version = train(diabetes_dataset, model="diabetes", algorithm="ridge")
    client.force_login(alice)
    form = {f["name"]: str(f["mean"]) for f in version.schema}
    response = client.post("/models/diabetes/", {**form, "version": 1})
    assert response.status_code == 302
    prediction = Prediction.objects.get()
    assert isinstance(prediction.output, float)
    url = f"/predictions/{prediction.pk}/"
    assert "must be a number" in client.post(url, {"actual": "lots"}).content.decode()
    assert client.post(url, {"actual": "151.5"}).status_code == 302
    prediction.refresh_from_db()
    assert prediction.actual == 151.5


def test_a_large_batch_file_becomes_a_job_with_a_download(
    iris_version, client, alice, bob, settings
):
    settings.BATCH_SYNC_MAX_ROWS = 5
    client.force_login(alice)
    rows = "\n".join(["5.1,3.5,1.4,0.2", "6.7,3.1,4.4,1.4", "6.3,3.3,6.0,2.5"] * 4)
    response = upload_batch(client, f"{HEADER}\n{rows}\n".encode())
    assert response.status_code == 302 and "/jobs/" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "Batch scoring of 12 rows" in page and "succeeded" in page
    link = re.search(r'id="download" href="([^"]+)"', page).group(1)
    lines = client.get(link).content.decode().splitlines()
    assert len(lines) == 13 and [line.split(",")[5] for line in lines[1:4]] == [
        "setosa",
        "versicolor",
        "virginica",
    ]
    assert Prediction.objects.filter(source="batch", user=alice).count() == 12
    assert not list((settings.MEDIA_ROOT / "batch-inputs").iterdir())  # the upload is gone
    client.force_login(bob)
    assert client.get(response["Location"]).status_code == 403
    assert client.get(link).status_code == 404


def test_site_error_pages_favicon_and_plain_decimal_hints(client, settings, iris_dataset, staff):
    settings.DEBUG = True  # make run: development mode shows the site's pages too
    page = client.get("/no/such/page/")
    assert page.status_code == 404 and "Not found" in page.content.decode()
    assert "Technical" not in page.content.decode() and "URLconf" not in page.content.decode()
    assert client.get("/models/nope/").status_code == 404
    settings.DEBUG = False
    icon = client.get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("favicon.svg")
    from predictor.web.forms import _fmt

    assert _fmt(1e-05) == "0.00001" and _fmt(1234.5678) == "1235" and _fmt(0.1234567) == "0.1235"


def test_a_value_far_outside_training_is_flagged_on_the_result(iris_version, client, alice):
    client.force_login(alice)
    response = client.post("/models/iris/", {**SETOSA, "sepal_length": "1e308", "version": 1})
    page = client.get(response["Location"]).content.decode()
    # (PostgreSQL keeps the number exactly and prints all its digits; SQLite writes 1e+308.)
    assert re.search(r"sepal_length = 1(e\+308|0{308}) is far outside what the model saw", page)


def test_every_invalid_field_is_reported_at_once(iris_version, client, alice):
    client.force_login(alice)
    bad = {**SETOSA, "sepal_length": "abc", "petal_width": "inf", "version": 1}
    response = client.post("/models/iris/", bad)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_sepal_length_error"' in page and 'id="id_petal_width_error"' in page
    assert 'value="abc"' in page  # what was typed stays
    assert Prediction.objects.count() == 0


def test_staff_promote_and_roll_back_from_the_model_page(iris_dataset, client, staff, alice):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    client.force_login(alice)
    assert 'id="stage-panel"' not in client.get("/models/iris/").content.decode()
    assert (
        client.post(
            "/models/iris/promote/", {"version": 2, "stage": "production", "reason": "x"}
        ).status_code
        == 403
    )
    client.force_login(staff)
    assert 'id="stage-panel"' in client.get("/models/iris/").content.decode()
    client.post("/models/iris/promote/", {"version": 2, "stage": "production", "reason": ""})
    v2.refresh_from_db()
    assert v2.stage == "none"  # no reason, no change
    client.post(
        "/models/iris/promote/",
        {"version": 2, "stage": "production", "reason": "knn wins", "action": "promote"},
    )
    v1.refresh_from_db(), v2.refresh_from_db()
    assert (v1.stage, v2.stage) == ("archived", "production")
    assert v2.transitions.get(to_stage="production").reason == "knn wins"
    client.post("/models/iris/promote/", {"reason": "knn was worse", "action": "rollback"})
    v1.refresh_from_db()
    assert v1.stage == "production"


def test_the_train_page_preselects_an_algorithm_for_the_task(
    client, staff, iris_dataset, diabetes_dataset
):
    client.force_login(staff)
    for dataset, expected in ((iris_dataset, "logistic_regression"), (diabetes_dataset, "ridge")):
        page = client.get(f"/train/?dataset={dataset.pk}").content.decode()
        assert re.search(rf'<option value="{expected}" selected>', page), expected


def test_every_aria_describedby_names_an_element_of_the_page(iris_version, client, staff):
    client.force_login(staff)
    for path in ("/models/iris/", "/train/", "/models/iris/monitoring/", "/history/"):
        page = client.get(path).content.decode()
        ids = set(re.findall(r'\bid="([^"]+)"', page))
        for described in re.findall(r'aria-describedby="([^"]+)"', page):
            for target in described.split():
                assert target in ids, (path, target)


def test_batch_results_carry_the_files_own_columns_first(iris_version, client, alice):
    client.force_login(alice)
    body = f"id,{HEADER},note\n7,5.1,3.5,1.4,0.2,=cmd\n9,6.7,3.1,4.4,1.4,ok\n".encode()
    page = upload_batch(client, body).content.decode()
    link = re.search(r'id="download" href="([^"]+)"', page).group(1)
    lines = client.get(link).content.decode().splitlines()
    # The file's columns in its own order, as written, then prediction_id and the prediction.
    assert lines[0].startswith("id," + HEADER + ",note,prediction_id,prediction")
    assert lines[1].startswith("7,5.1,3.5,1.4,0.2,'=cmd,")
    assert lines[1].split(",")[7] == "setosa"
    assert lines[2].startswith("9,6.7,3.1,4.4,1.4,ok,")
    assert lines[2].split(",")[7] == "versicolor"
