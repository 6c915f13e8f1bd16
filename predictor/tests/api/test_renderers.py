"""The prediction answers' JSON renderer writes what DRF's would."""

import datetime
import decimal
import json
import uuid

import numpy as np
import pytest
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from predictor.api.renderers import PredictionJSONRenderer

from ..conftest import client_for

ANSWER = {
    "model": "crédit",
    "version": 3,
    "predictions": ["good", "bad", "bon\u2028jour\u2029"],
    "probabilities": [{"bad": 0.155295, "good": 0.844705}, {"bad": 1.0, "good": 0.0}, None],
    "prediction_ids": [1, 2, 2**62],
    "warnings": [[{"feature": "age", "value": 250.0, "min": 19.0, "max": 74.0}], [], []],
    "notes": [ErrorDetail("row 1: feature 'job' has a category not seen in training: 'é'")],
    "by_class": {1: "one", 2.5: "half", None: "none"},
    "request_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


@pytest.mark.parametrize(
    "data",
    [
        ANSWER,
        {"detail": ErrorDetail("row 2: feature 'bmi' must be a number"), "row": 2},
        {"at": datetime.datetime(2026, 12, 2, 13, 5, 7, 123456, tzinfo=datetime.UTC)},
        {"amount": decimal.Decimal("1.10"), "day": datetime.date(2026, 12, 2)},
        {"value": np.float64(0.5), "count": np.int64(3)},
        {"big": 2**70},
        [],
    ],
)
def test_the_text_is_what_drf_writes(data):
    assert PredictionJSONRenderer().render(data) == JSONRenderer().render(data)


def test_an_indented_answer_is_drf_s():
    media = "application/json; indent=2"
    ours = PredictionJSONRenderer().render(ANSWER, media, {})
    assert ours == JSONRenderer().render(ANSWER, media, {})
    assert b'\n  "model"' in ours


def test_an_exponent_may_be_spelled_otherwise_with_the_same_value():
    data = {"p": [1e-07, 1e16, 0.1, 123456789.125]}
    assert json.loads(PredictionJSONRenderer().render(data)) == data


def test_a_prediction_answer_uses_it(iris_version, alice):
    response = client_for(alice).post(
        "/api/models/iris/predict/",
        {
            "inputs": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    assert isinstance(response.accepted_renderer, PredictionJSONRenderer)
    assert response.content == JSONRenderer().render(response.data)
