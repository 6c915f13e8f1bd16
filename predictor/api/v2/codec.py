"""The Open Inference Protocol (KServe V2): tensors in, tensors out, same rules as REST.

Decoding a request turns tensors into records; validation, prediction and logging are
the shared ones of `schema` and `inference`.
"""

import math

from predictor.models import ModelVersion, Source, Task
from predictor.services.errors import InvalidInput
from predictor.services.schema import NUMERIC
from predictor.services.serving import inference, runtime

NUMERIC_TYPES = {
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
}
INTEGER_TYPES = {t for t in NUMERIC_TYPES if "INT" in t}
DATATYPES = NUMERIC_TYPES | {"BYTES", "BOOL"}


def _label_datatype(classes: list) -> str:
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    return "BYTES"


def output_names(version: ModelVersion) -> list[str]:
    names = ["predict"]
    if runtime.runtime_for(version=version).has_probabilities:
        names.append("predict_proba")
    return names


def model_metadata(version: ModelVersion, versions: list[int]) -> dict:
    task = version.model.task
    outputs = [
        {
            "name": "predict",
            "datatype": _label_datatype(version.classes or [])
            if task == Task.CLASSIFICATION
            else "FP64",
            "shape": [-1],
        }
    ]
    if "predict_proba" in output_names(version):
        outputs.append(
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(version.classes or [])]}
        )
    return {
        "name": version.model.name,
        "versions": [str(v) for v in versions],
        "platform": "sklearn",
        "inputs": [
            {
                "name": f["name"],
                "datatype": "FP64" if f["type"] == NUMERIC else "BYTES",
                "shape": [-1],
            }
            for f in version.schema
        ],
        "outputs": outputs,
        "parameters": {
            "version": version.version,
            "stage": version.stage,
            "task": task,
            "classes": version.classes,
            "alternative_input": {
                "name": "input-0",
                "shape": [-1, len(version.schema)],
                "note": "one 2-D tensor with the features in this order",
            },
        },
    }


def _flatten(data, where: str) -> list:
    """Row-major data, flat or nested, as one flat list (iteratively: no deep recursion)."""
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: 'data' must be a list")
    flat, stack = [], [iter(data)]
    while stack:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if isinstance(item, list):
            if len(stack) > 8:
                raise InvalidInput(f"{where}: 'data' is nested too deeply")
            stack.append(iter(item))
        else:
            flat.append(item)
    return flat


def _check_parameters(params, where: str, *, tensor: bool = False) -> None:
    """Parameters are accepted; binary input data, which this server cannot read, is not.

    A request for binary *outputs* (tritonclient asks for them by default) is answered in
    JSON, which the client decodes the same way, so it is not refused.
    """
    if params is None:
        return
    if not isinstance(params, dict):
        raise InvalidInput(f"{where}: 'parameters' must be an object")
    if tensor and ("binary_data_size" in params or params.get("binary_data")):
        raise InvalidInput(
            f"{where}: binary tensor data is not supported; send JSON data (binary_data=False)"
        )


def _tensor(raw, i: int) -> dict:
    where = f"input {i + 1}"
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{where}: each input must be an object with name, shape, datatype, data"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}: 'name' must be a non-empty string")
    where = f"input '{name}'"
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or len(shape) > 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(f"{where}: 'shape' must be [rows] or [rows, columns] of whole numbers")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidInput(
            f"{where}: unsupported datatype {datatype!r}; use FP32, FP64, INT32, INT64 or BYTES"
        )
    _check_parameters(raw.get("parameters"), where, tensor=True)
    if "data" not in raw:
        raise InvalidInput(f"{where}: 'data' is missing")
    flat = _flatten(raw["data"], where)
    if len(flat) != math.prod(shape):
        raise InvalidInput(
            f"{where}: shape {shape} needs {math.prod(shape)} values, 'data' has {len(flat)}"
        )
    for value in flat:
        if value is None:
            continue
        if datatype in NUMERIC_TYPES:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput(f"{where}: datatype {datatype} needs numbers, got {value!r:.40}")
            if datatype in INTEGER_TYPES and isinstance(value, float) and not value.is_integer():
                raise InvalidInput(f"{where}: datatype {datatype} needs whole numbers, got {value}")
        elif datatype == "BYTES" and not isinstance(value, str):
            raise InvalidInput(f"{where}: datatype BYTES needs strings, got {value!r:.40}")
        elif datatype == "BOOL":
            raise InvalidInput(f"{where}: datatype BOOL is not a feature type here")
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def records_from_request(body, version: ModelVersion) -> list[dict]:
    """Records from V2 inputs: one tensor per feature, or one 2-D tensor of all features."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object with 'inputs'")
    unknown = set(body) - {"id", "parameters", "inputs", "outputs"}
    if unknown:
        raise InvalidInput(f"unknown key(s) in the request: {', '.join(sorted(map(str, unknown)))}")
    _check_parameters(body.get("parameters"), "request")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(raw, i) for i, raw in enumerate(inputs)]
    names = version.feature_names
    if len(tensors) == 1 and len(tensors[0]["shape"]) == 2 and tensors[0]["name"] not in names:
        t = tensors[0]
        rows, cols = t["shape"]
        if cols != len(names):
            raise InvalidInput(
                f"input '{t['name']}': shape {t['shape']} needs {len(names)} columns ({', '.join(names)})"
            )
        return [dict(zip(names, t["data"][r * cols : (r + 1) * cols])) for r in range(rows)]
    seen = {}
    for t in tensors:
        if t["name"] not in names:
            raise InvalidInput(f"unknown input {t['name']!r}; the inputs are: {', '.join(names)}")
        if t["name"] in seen:
            raise InvalidInput(f"input {t['name']!r} is given twice")
        if len(t["shape"]) == 2 and t["shape"][1] != 1:
            raise InvalidInput(
                f"input '{t['name']}': a feature tensor has shape [rows] or [rows, 1]"
            )
        seen[t["name"]] = t
    missing = [n for n in names if n not in seen]
    if missing:
        raise InvalidInput(f"input {missing[0]!r} is missing")
    rows = {t["shape"][0] for t in seen.values()}
    if len(rows) != 1:
        raise InvalidInput("all input tensors must have the same number of rows")
    count = rows.pop()
    return [{n: seen[n]["data"][r] for n in names} for r in range(count)]


def requested_outputs(body: dict, version: ModelVersion) -> list[str]:
    available = output_names(version)
    outputs = body.get("outputs")
    if outputs is None:
        return available
    if not isinstance(outputs, list):
        raise InvalidInput("'outputs' must be a list")
    names = []
    for i, out in enumerate(outputs):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise InvalidInput(f"output {i + 1}: must be an object with a 'name'")
        if out["name"] not in available:
            raise InvalidInput(f"unknown output {out['name']!r}; available: {', '.join(available)}")
        _check_parameters(out.get("parameters"), f"output '{out['name']}'")
        names.append(out["name"])
    return names or available


def infer(
    *, version: ModelVersion, body, user=None, request_id: str = "", shadows: tuple = ()
) -> dict:
    """Run an inference request; predictions are logged with source 'v2'."""
    records = records_from_request(body, version)
    wanted = requested_outputs(body, version)
    given_id = body.get("id")
    if given_id is not None and not isinstance(given_id, str):
        raise InvalidInput("'id' must be a string")
    result = inference.predict(
        version=version,
        records=records,
        source=Source.V2,
        user=user,
        request_id=given_id if inference.request_id_valid(given=given_id) else request_id,
        shadows=shadows,
    )
    outputs = []
    n = len(result.predictions)
    if "predict" in wanted:
        if version.model.task == Task.CLASSIFICATION:
            datatype = _label_datatype(version.classes or [])
            data = [p if datatype == "INT64" else str(p) for p in result.predictions]
        else:
            datatype, data = "FP64", [float(p) for p in result.predictions]
        outputs.append({"name": "predict", "datatype": datatype, "shape": [n], "data": data})
    if "predict_proba" in wanted:
        if result.probabilities is None:
            raise InvalidInput("this model has no class probabilities")
        classes = [str(c) for c in version.classes]
        data = [row[c] for row in result.probabilities for c in classes]
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [n, len(classes)],
                "data": data,
                "parameters": {"classes": ",".join(classes)},
            }
        )
    response = {
        "model_name": version.model.name,
        "model_version": str(version.version),
        "outputs": outputs,
        "parameters": {"prediction_ids": ",".join(map(str, result.prediction_ids))},
    }
    if given_id is not None:
        response["id"] = given_id
    if any(result.warnings):
        response["parameters"]["warnings"] = "; ".join(
            f"row {i}: {w['feature']} = {w['value']} is far outside {w['min']}..{w['max']}"
            for i, row in enumerate(result.warnings, start=1)
            for w in row
        )
    return response
