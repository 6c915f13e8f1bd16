"""Batch results: the file's own columns as written, then prediction_id, the prediction and
the probabilities; feedback can be given per row by that id."""

import csv
import io

from django.test import Client

from predictor.models import Prediction
from predictor.services.serving import scoring
from predictor.tests.conftest import client_for

FILE = (
    b"row_id,sepal_length,sepal_width,petal_length,petal_width,note\n"
    b"12,5,3.5,1.4,0.2,=cmd\n"
    b"13,6.7,3,5.2,2.3,plain\n"
)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_batch_result_keeps_the_files_cells_and_carries_prediction_ids(iris_version, alice):
    result = scoring.batch_predict_csv(version=iris_version, data=FILE, user=alice)
    text = scoring.batch_result_csv(request_id=result.request_id, user=alice)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:7] == [
        "row_id",
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "note",
        "prediction_id",
    ]
    assert header[7] == "prediction" and header[8].startswith("probability_")
    rows = _rows(text)
    assert [r["row_id"] for r in rows] == ["12", "13"]  # 12 stays 12, not 12.0
    assert rows[0]["sepal_length"] == "5" and rows[1]["sepal_width"] == "3"
    assert rows[0]["note"] == "'=cmd"  # still formula-safe
    logged = {p.pk: p for p in Prediction.objects.filter(request_id=result.request_id)}
    ids = [int(r["prediction_id"]) for r in rows]
    assert ids == result.prediction_ids and set(ids) == set(logged)
    for r in rows:
        assert r["prediction"] == str(logged[int(r["prediction_id"])].output)
    # Feedback for a row, by the id the file gives.
    answer = client_for(alice).post(
        f"/api/predictions/{ids[1]}/feedback/", {"actual": "virginica"}, format="json"
    )
    assert answer.status_code in (200, 201)
    assert Prediction.objects.get(pk=ids[1]).actual == "virginica"
    # The page's download is the same file.
    browser = Client()
    browser.force_login(alice)
    download = browser.get(f"/batch/{result.request_id}.csv")
    assert download.status_code == 200 and download.content.decode() == text


def test_a_batch_job_result_has_the_same_shape(iris_version, alice, settings):
    settings.BATCH_SYNC_MAX_ROWS = 1
    job = scoring.batch_predict_csv(version=iris_version, data=FILE, user=alice)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    request_id = job.options["request_id"]
    rows = _rows(scoring.batch_result_csv(request_id=request_id, user=alice))
    assert [r["row_id"] for r in rows] == ["12", "13"] and rows[0]["sepal_length"] == "5"
    logged = set(Prediction.objects.filter(request_id=request_id).values_list("pk", flat=True))
    assert {int(r["prediction_id"]) for r in rows} == logged
