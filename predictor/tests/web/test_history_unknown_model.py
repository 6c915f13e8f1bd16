"""The history page's model filter: a name that is no model the user may use is a form
error naming it, and no rows are shown (never the unfiltered list)."""

from django.test import Client

from predictor.tests.conftest import client_for


def test_an_unknown_model_name_is_a_form_error_and_no_rows(iris_version, alice):
    client_for(alice).post(
        "/api/models/iris/predict/",
        {"inputs": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
                    "petal_width": 0.2}},
        format="json",
    )  # fmt: skip
    client = Client()
    client.force_login(alice)
    known = client.get("/history/?model=iris").content.decode()
    assert known.count('href="/predictions/') == 1
    answer = client.get("/history/?model=nope")
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "No model named" in page and "nope" in page and "has-error" in page
    assert 'href="/predictions/' not in page


def test_the_api_gives_no_rows_for_an_unknown_model(iris_version, alice):
    answer = client_for(alice).get("/api/predictions/?model=nope")
    assert answer.status_code == 200 and answer.json()["results"] == []


def test_an_all_blank_prediction_form_says_every_input_was_imputed(iris_version, alice):
    client = Client()
    client.force_login(alice)
    blank = {f: "" for f in iris_version.feature_names}
    answer = client.post("/models/iris/", blank)
    assert answer.status_code == 302
    page = client.get(answer["Location"]).content.decode()
    assert "All 4 inputs were blank" in page and "says little" in page
    full = {"sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "", "petal_width": ""}
    page = client.get(client.post("/models/iris/", full)["Location"]).content.decode()
    assert "inputs were blank" not in page
