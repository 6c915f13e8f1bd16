"""The Open Inference Protocol, spoken by the real tritonclient against the live server."""

import json

import numpy as np
import pytest
import tritonclient.http as th
from tritonclient.utils import InferenceServerException

from predictor.models import Prediction

from ..conftest import client_for, train

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]])
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def triton(live_server, iris_version):
    client = th.InferenceServerClient(
        url=live_server.url.removeprefix("http://"), network_timeout=30
    )
    yield client
    client.close()


def test_server_health_and_metadata(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.get_server_metadata()["name"] == "mlsite"


def test_model_metadata_and_ready(triton):
    meta = triton.get_model_metadata("iris")
    assert [i["name"] for i in meta["inputs"]] == NAMES
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
        ("predict", "BYTES"),
        ("predict_proba", "FP64"),
    ]
    assert meta["versions"] == ["1"]
    assert triton.get_model_metadata("iris", "1")["parameters"]["version"] == 1
    assert triton.is_model_ready("iris") and triton.is_model_ready("iris", "1")
    assert not triton.is_model_ready("iris", "7") and not triton.is_model_ready("nope")


def test_infer_one_tensor_per_feature(triton):
    inputs = []
    for i, name in enumerate(NAMES):
        tensor = th.InferInput(name, [2], "FP64")
        tensor.set_data_from_numpy(ROWS[:, i], binary_data=False)
        inputs.append(tensor)
    outputs = [th.InferRequestedOutput("predict", binary_data=False)]
    result = triton.infer("iris", inputs, outputs=outputs, request_id="req-42")
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")] == [
        "setosa",
        "versicolor",
    ]
    assert result.as_numpy("predict_proba") is None  # not requested
    response = result.get_response()
    assert response["id"] == "req-42" and response["model_version"] == "1"
    logged = Prediction.objects.order_by("pk")
    assert [p.source for p in logged] == ["v2", "v2"] and logged[0].request_id == "req-42"


def test_infer_one_2d_tensor_with_probabilities(triton):
    tensor = th.InferInput("input-0", [2, 4], "FP32")
    tensor.set_data_from_numpy(ROWS.astype(np.float32), binary_data=False)
    outputs = [
        th.InferRequestedOutput("predict", binary_data=False),
        th.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    result = triton.infer("iris", [tensor], model_version="1", outputs=outputs)
    proba = result.as_numpy("predict_proba")
    assert (
        proba.shape == (2, 3) and proba[0, 0] > 0.8 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    )
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")] == [
        "setosa",
        "versicolor",
    ]


def test_errors_surface_as_client_exceptions(triton):
    tensor = th.InferInput("input-0", [1, 3], "FP64")
    tensor.set_data_from_numpy(np.array([[1.0, 2.0, 3.0]]), binary_data=False)
    with pytest.raises(InferenceServerException, match="needs 4 columns"):
        triton.infer("iris", [tensor])
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        triton.infer("nope", [tensor])
    assert Prediction.objects.count() == 0


def test_default_infer_call_without_requested_outputs(triton):
    # tritonclient then asks for binary outputs; the answer comes as JSON, which it decodes.
    tensor = th.InferInput("input-0", [2, 4], "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    result = triton.infer("iris", [tensor])
    assert result.as_numpy("predict_proba").shape == (2, 3)
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")] == [
        "setosa",
        "versicolor",
    ]


def test_binary_data_is_refused_clearly(triton):
    tensor = th.InferInput("input-0", [1, 4], "FP64")
    tensor.set_data_from_numpy(ROWS[:1], binary_data=True)
    with pytest.raises(InferenceServerException, match="binary tensor data is not supported"):
        triton.infer("iris", [tensor])
    assert Prediction.objects.count() == 0


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_v2_roles_and_error_shape(iris_dataset, alice):
    train(iris_dataset, model="secret", algorithm="knn")
    body = {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]
    }
    anon = client_for()
    response = post(anon, "/v2/models/secret/infer", body)
    assert response.status_code == 401 and "error" in response.json()
    response = post(client_for(alice), "/v2/models/secret/infer", body)
    assert response.status_code == 200 and response.json()["outputs"][0]["data"] == ["setosa"]
    assert anon.get("/v2/models/secret").status_code == 401
    assert anon.get("/v2/models/none").json() == {"error": "no model named 'none'"}


BAD = [
    ({}, "'inputs' must be a non-empty list"),
    ({"inputs": []}, "'inputs' must be a non-empty list"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}, "'data' is missing"),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]},
        "needs 4 values",
    ),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "STRING", "data": [1, 2, 3, 4]}]},
        "unsupported datatype",
    ),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a", 2, 3, 4]}]},
        "needs numbers",
    ),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1.5, 2, 3, 4]}]},
        "whole numbers",
    ),
    (
        {"inputs": [{"name": "x", "shape": [-1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
        "'shape'",
    ),
    (
        {"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1]}]},
        "input 'sepal_width' is missing",
    ),
    (
        {"inputs": [{"name": "colour", "shape": [1], "datatype": "FP64", "data": [1]}]},
        "unknown input 'colour'",
    ),
    (
        {
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}],
            "outputs": [{"name": "logits"}],
        },
        "unknown output 'logits'",
    ),
    ({"inputs": [{"name": "x", "shape": [0, 4], "datatype": "FP64", "data": []}]}, "empty batch"),
    (
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1e400, 2, 3, 4]}]},
        "finite",
    ),
    ({"inputs": "x"}, "'inputs' must be"),
    (
        {
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}],
            "extra": 1,
        },
        "unknown key",
    ),
    (
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 4],
                    "datatype": "FP64",
                    "data": [1, 2, 3, 4],
                    "parameters": {"binary_data_size": 32},
                }
            ]
        },
        "binary tensor data is not supported",
    ),
]


@pytest.mark.parametrize("body,message", BAD)
def test_bad_infer_requests_are_400_with_error(iris_version, body, message):
    response = post(client_for(), "/v2/models/iris/infer", body)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    assert Prediction.objects.count() == 0


def test_v2_per_feature_with_categorical_bytes(credit_dataset, alice):
    version = train(credit_dataset, model="credit", algorithm="knn")
    inputs = []
    for f in version.schema:
        if f["type"] == "numeric":
            inputs.append(
                {"name": f["name"], "shape": [1], "datatype": "FP64", "data": [f["mean"]]}
            )
        else:
            inputs.append(
                {"name": f["name"], "shape": [1], "datatype": "BYTES", "data": [f["categories"][0]]}
            )
    response = post(client_for(alice), "/v2/models/credit/versions/1/infer", {"inputs": inputs})
    assert response.status_code == 200, response.json()
    assert response.json()["outputs"][0]["data"][0] in ("bad", "good")


def test_datatype_that_is_not_a_string_is_400(iris_version):
    body = {
        "inputs": [
            {"name": "0", "shape": [0], "datatype": {}, "parameters": {}, "data": [None, None]}
        ]
    }
    response = post(client_for(), "/v2/models/iris/infer", body)
    assert response.status_code == 400 and "unsupported datatype" in response.json()["error"]
