"""OpenAPI additions that drf-spectacular cannot infer: the error responses of every call,
and the exact shapes of the prediction and Open Inference Protocol bodies."""

ERROR = {
    "type": "object",
    "description": "An error. REST calls answer {'detail': ...} (validation errors may name "
    "fields instead); the Open Inference Protocol answers {'error': ...}.",
    "properties": {"detail": {"type": "string"}, "error": {"type": "string"}},
    "additionalProperties": True,
}
DESCRIPTIONS = {
    "400": "Invalid input: the message names the row, feature or field.",
    "401": "Authentication needed (the model is not public, or the token is wrong).",
    "403": "Logged in, but not allowed (management needs staff).",
    "404": "No such model, version, dataset, job or prediction (or not yours).",
    "405": "Method not allowed.",
    "406": "Not acceptable (unknown ?format=).",
    "409": "Conflict: e.g. the model has no production version.",
    "413": "The request body is larger than the configured limit.",
    "414": "The URL is longer than the server accepts.",
    "415": "Unsupported media type.",
    "429": "Too many requests (throttled).",
}
NUMBER_OR_NULL = {"oneOf": [{"type": "number"}, {"type": "string"}], "nullable": True}
RECORD = {
    "type": "object",
    "description": "Feature name → value (number, category string, or null when imputable).",
    "additionalProperties": NUMBER_OR_NULL,
}
ROW = {"type": "array", "description": "Values in schema order.", "items": NUMBER_OR_NULL}
PREDICT_REQUEST = {
    "oneOf": [
        {
            "type": "object",
            "required": ["inputs"],
            "additionalProperties": False,
            "properties": {
                "inputs": {"oneOf": [RECORD, {"type": "array", "minItems": 1, "items": RECORD}]}
            },
        },
        {
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {"data": {"type": "array", "minItems": 1, "items": ROW}},
        },
        {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "array", "minItems": 1, "items": {"oneOf": [ROW, RECORD]}}
            },
        },
        {
            "type": "object",
            "required": ["dataframe_split"],
            "additionalProperties": False,
            "properties": {
                "dataframe_split": {
                    "type": "object",
                    "required": ["columns", "data"],
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": {"type": "array", "minItems": 1, "items": ROW},
                    },
                }
            },
        },
        {
            "type": "object",
            "required": ["dataframe_records"],
            "additionalProperties": False,
            "properties": {"dataframe_records": {"type": "array", "minItems": 1, "items": RECORD}},
        },
    ]
}
TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {"type": "integer", "minimum": 0},
        },
        "datatype": {"type": "string", "enum": ["FP32", "FP64", "INT32", "INT64", "BYTES"]},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "minItems": 1, "items": TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "enum": ["predict", "predict_proba"]},
                    "parameters": {"type": "object"},
                },
            },
        },
    },
}


def postprocess(result, generator, request, public):
    """Add the shared error responses and the exact request bodies."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR
    schemas["PredictionRequest"] = PREDICT_REQUEST
    schemas["InferenceRequest"] = INFER_REQUEST
    # Bodies whose serializers refuse fields they do not know (a typo is a 400, not ignored).
    for name in (
        "TrafficRequest",
        "RouteRequest",
        "PatchedVersionChangeRequest",
        "TrainingRequestRequest",
    ):
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, text in DESCRIPTIONS.items():
                if code == "409" and "predict" not in path and "promote" not in path:
                    continue
                responses[code] = {
                    "description": text,
                    "content": {"application/json": {"schema": ref}},
                }
            body = operation.get("requestBody", {}).get("content", {})
            if path.endswith("/predict/") and "application/json" in body:
                body["application/json"]["schema"] = {
                    "$ref": "#/components/schemas/PredictionRequest"
                }
            if path.endswith("/infer"):
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/InferenceRequest"}
                        }
                    },
                }
    _group_and_name(result)
    return result


# The documentation's sections, in order; each operation goes to the first whose test its
# path passes (an operation that names its own tags, such as `auth`, keeps them).
TAGS = [
    ("auth", "Your own API token from a username and password."),
    ("api-keys", "Scoped API keys (managers)."),
    ("datasets", "Upload and inspect training datasets (staff)."),
    ("training", "Training jobs, retraining and retrain policies (staff)."),
    ("monitoring", "Drift, live metrics and alerts (staff)."),
    ("rollout", "Promotion, traffic split, shadows and version comparison (staff)."),
    ("predictions", "Predict, the prediction log and feedback."),
    ("versions", "A model's versions: schema, metrics, stage."),
    ("models", "Registered models."),
    ("v2", "The Open Inference Protocol (/v2/)."),
    ("ops", "Health, readiness and metrics."),
]
_SECTION = [
    ("auth", lambda p: p.startswith("/api/auth/")),
    ("api-keys", lambda p: p.startswith("/api/api-keys/")),
    ("datasets", lambda p: p.startswith("/api/datasets/")),
    ("training", lambda p: p.startswith("/api/training-jobs/") or "/retrain" in p),
    ("monitoring", lambda p: p.endswith("/monitoring/")),
    ("rollout", lambda p: p.endswith(("/promote/", "/traffic/", "/compare/"))),
    ("predictions", lambda p: p.startswith("/api/predictions/") or p.endswith("/predict/")),
    ("versions", lambda p: "/versions/" in p),
    ("models", lambda p: p.startswith("/api/models/")),
    ("v2", lambda p: p.startswith("/v2")),
    ("ops", lambda p: True),
]


def _group_and_name(result) -> None:
    """Tag each operation by its section (rather than one `api` tag for all), and call the
    model's path parameter `{name}` everywhere, as the contract writes it (the versions'
    routes call it `model_name` internally; the URLs are the same)."""
    paths = result.get("paths", {})
    for path in list(paths):
        operations = paths.pop(path)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or method not in (
                "get", "post", "put", "patch", "delete", "head", "options",
            ):  # fmt: skip
                continue
            if operation.get("tags") in (None, [], ["api"]):
                operation["tags"] = [next(tag for tag, test in _SECTION if test(path))]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "model_name":
                    parameter["name"] = "name"
        paths[path.replace("{model_name}", "{name}")] = operations
    used = {tag for ops in paths.values() for op in ops.values() if isinstance(op, dict)
            for tag in op.get("tags", [])}  # fmt: skip
    result["tags"] = [{"name": n, "description": text} for n, text in TAGS if n in used]
