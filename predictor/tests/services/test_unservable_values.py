"""Values no log, model or response can hold: a model output that is not a finite number,
and text with an unpaired surrogate. Each is a clear 400 that stores nothing."""

import json
import warnings

import pytest

from predictor.models import Prediction, PredictionHour, Runtime
from predictor.services.errors import InvalidInput
from predictor.services.schema import example_record
from predictor.services.serving import inference, runtime

from ..conftest import client_for, train
from .test_microbatch import SETOSA, run_together, versions  # noqa: F401 (fixture)

DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


@pytest.fixture
def diabetes_version(diabetes_dataset):
    version = train(diabetes_dataset, model="diabetes", algorithm="linear_regression")
    version.model.public = True
    version.model.save()
    return version


def _row(value):
    return dict.fromkeys(DIABETES, value)


def test_a_regression_output_that_overflows_is_a_400_naming_the_row(diabetes_version, alice):
    assert diabetes_version.runtime == Runtime.ONNX
    response = client_for(alice).post(
        "/api/models/diabetes/predict/",
        {"inputs": [_row(0.01), _row(1e308)]},
        format="json",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["row"] == 2 and "not a finite number" in body["detail"]
    assert not Prediction.objects.exists()
    assert not PredictionHour.objects.exists()


def test_class_probabilities_that_are_not_numbers_are_a_400(iris_version, alice):
    # Logits of ±inf give NaN probabilities.
    huge = {k: 1e308 for k in SETOSA}
    response = client_for(alice).post(
        "/api/models/iris/predict/", {"inputs": [SETOSA, SETOSA, huge]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["row"] == 3
    assert not Prediction.objects.exists()


def test_the_scikit_learn_runtime_reports_the_same_rows(diabetes_version):
    served = runtime.SklearnRuntime(
        runtime.pipeline_for(version=diabetes_version),
        schema=diabetes_version.schema,
        task="regression",
    )
    rows = [_row(0.01), _row(1e308), _row(0.02), _row(-1e308)]
    with warnings.catch_warnings():  # numpy may warn of the overflow as the model computes
        warnings.simplefilter("ignore", RuntimeWarning)
        output = served.predict(rows)
    assert output.nonfinite == (1, 3)
    assert runtime.runtime_for(version=diabetes_version).predict(rows).nonfinite == (1, 3)
    assert served.predict([_row(0.01)]).nonfinite == ()


def test_in_a_shared_call_only_the_caller_with_the_row_fails(versions, settings):  # noqa: F811
    settings.MICROBATCH_MAX_WAIT_MS = 20
    version = versions[0]
    huge = {k: 1e308 for k in SETOSA}
    jobs = [
        (
            lambda i=i: inference.predict(
                version=version, records=[SETOSA, huge] if i == 2 else [SETOSA]
            )
        )
        for i in range(6)
    ]
    results = run_together(jobs)
    assert isinstance(results[2], InvalidInput) and "row 2" in results[2].message
    served = [r for i, r in enumerate(results) if i != 2]
    assert all(r.predictions == ["setosa"] for r in served), results
    ids = [i for r in served for i in r.prediction_ids]
    assert sorted(Prediction.objects.values_list("pk", flat=True)) == sorted(ids)


@pytest.fixture
def credit_version(credit_dataset):
    version = train(credit_dataset, model="credit")
    version.model.public = True
    version.model.save()
    return version


def _credit_body(credit_version, text: str, number: str = "") -> str:
    record = example_record(schema=credit_version.schema)
    name = next(f["name"] for f in credit_version.schema if f["type"] == "categorical")
    record[name] = "TEXT"
    if number:
        record[next(f["name"] for f in credit_version.schema if f["type"] == "numeric")] = "NUMBER"
    body = json.dumps({"inputs": record}).replace('"TEXT"', text)
    return body.replace('"NUMBER"', number)


@pytest.mark.parametrize("number", ["", "1234567890123456789012"])
def test_an_unpaired_surrogate_is_a_400(credit_version, alice, number):
    # A long integer in the body: the standard library reads it, not orjson.
    body = _credit_body(credit_version, '"a\\ud800b"', number)
    response = client_for(alice).post(
        "/api/models/credit/predict/", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["detail"]
    assert not Prediction.objects.exists()


def test_a_paired_surrogate_is_a_character_like_any_other(credit_version, alice):
    body = _credit_body(credit_version, '"rent \\ud83d\\ude00"')
    response = client_for(alice).post(
        "/api/models/credit/predict/", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert "rent \U0001f600" in Prediction.objects.get().inputs.values()


@pytest.mark.parametrize("sparse", [False, True])
def test_overflowed_feature_rows_are_named_and_zeroed(sparse):
    import numpy as np
    from scipy import sparse as sp

    features = np.array([[1.0, 0.0], [np.inf, 2.0], [3.0, 0.0], [0.0, -np.inf]])
    given = sp.csr_matrix(features) if sparse else features
    cleaned, rows = runtime._finite_features(given)
    assert rows == (1, 3)
    dense = cleaned.toarray() if sparse else cleaned
    # Every value is finite now; the rows that were served as they came are unchanged.
    assert np.isfinite(dense).all() and np.array_equal(dense[[0, 2]], features[[0, 2]])
    assert np.isinf(features[1, 0])  # the caller's array is left as it was
    assert runtime._finite_features(given[[0, 2]])[1] == ()


@pytest.mark.parametrize("delay", [0, 30])
def test_an_output_too_large_to_square_is_served_and_summed_within_bounds(
    diabetes_version, alice, settings, monkeypatch, delay
):
    import math

    from predictor.services.log import aggregates, deferred

    settings.PREDICTION_AGGREGATES_DELAY = delay
    monkeypatch.setattr(deferred, "_served", [])
    monkeypatch.setattr(deferred, "_thread_start", lambda: None)  # added below, by hand
    response = client_for(alice).post(
        "/api/models/diabetes/predict/",
        {"inputs": [_row(1e200), _row(-1e200), _row(0.01)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    huge = response.json()["predictions"][:2]
    assert all(math.isfinite(v) and abs(v) > 1e160 for v in huge)  # squares would overflow
    deferred.flush()
    assert not deferred.pending()
    hour = PredictionHour.objects.get(version=diabetes_version, user_key=aggregates.ALL_USERS)
    assert hour.predictions == 3
    assert math.isfinite(hour.output_sum) and math.isfinite(hour.output_sumsq)
    assert hour.output_sumsq >= 2 * aggregates.SUM_BOUND**2
    # Feedback with an error too large to square is summed within the same bound.
    first = Prediction.objects.order_by("pk").first()
    answer = client_for(alice).post(
        f"/api/predictions/{first.pk}/feedback/", {"actual": -1e308}, format="json"
    )
    assert answer.status_code == 200, answer.content
    hour.refresh_from_db()
    assert hour.labelled == 1 and hour.sq_error_sum == aggregates.SUM_BOUND**2


@pytest.mark.parametrize(
    "text, expected",
    [
        # Beyond 64 bits orjson would give a float: the standard library keeps the integer.
        ('{"k": "é", "n": 123456789012345678901234}', {"k": "é", "n": 123456789012345678901234}),
        ('{"n": -18446744073709551617}', {"n": -18446744073709551617}),
        # 18 digits, and runs of digits broken by a point or a letter: orjson's own reading.
        ('{"n": 123456789012345678}', {"n": 123456789012345678}),
        ('{"x": 1234567890.1234567890, "s": "a1234567890b123456789"}', None),
    ],
)
def test_long_integers_are_read_exactly(text, expected):
    import io

    from predictor.api.parsers import SafeJSONParser

    data = SafeJSONParser().parse(io.BytesIO(text.encode()))
    assert data == (expected if expected is not None else json.loads(text))
    for key, value in (expected or {}).items():
        assert type(data[key]) is type(value)
