"""The prediction door of the REST API: the body shapes it reads, one call of the core."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample
from rest_framework.response import Response

from predictor.api import codec
from predictor.api import serializers as s
from predictor.api.parsers import CSVParser, SafeJSONParser
from predictor.api.renderers import PredictionJSONRenderer
from predictor.models import Source
from predictor.services import schema
from predictor.services.serving import inference, routing
from predictor.web.timing import prediction_timed

PREDICT_EXAMPLES = [
    OpenApiExample(
        "inputs (one record)",
        value={
            "inputs": {
                "sepal_length": 5.1,
                "sepal_width": 3.5,
                "petal_length": 1.4,
                "petal_width": 0.2,
            }
        },
    ),
    OpenApiExample(
        "inputs (records)",
        value={
            "inputs": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
    ),
    OpenApiExample(
        "data (positional rows)", value={"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]]}
    ),
    OpenApiExample("instances", value={"instances": [[5.1, 3.5, 1.4, 0.2]]}),
    OpenApiExample(
        "dataframe_split",
        value={
            "dataframe_split": {
                "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
                "data": [[5.1, 3.5, 1.4, 0.2]],
            }
        },
    ),
    OpenApiExample(
        "dataframe_records",
        value={
            "dataframe_records": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
    ),
]


# The hot path: JSON (or CSV) in, JSON out, nothing to negotiate.
PREDICT_PARSERS = [SafeJSONParser, CSVParser]
PREDICT_RENDERERS = [PredictionJSONRenderer]


@prediction_timed(Source.API)
def predict_response(request, model_name: str, version=None) -> Response:
    """Parse the body (JSON in any accepted shape, or text/csv with a header row), ask
    routing for the version, predict and log, render."""
    route = routing.route(
        model_name=model_name,
        user=request.user,
        version=version,
        routing_key=request.headers.get("X-Routing-Key"),
    )
    version = route.version
    common = {
        "version": version,
        "source": Source.API,
        "user": request.user,
        "request_id": request.request_id,
        "shadows": route.shadows,
    }
    data = request.data
    if isinstance(data, dict) and "__csv__" in data:
        valid = schema.rows_from_csv(
            text=data["__csv__"], schema=version.schema, max_rows=settings.PREDICT_MAX_ROWS
        )
        result = inference.predict_valid(valid=valid, **common)
    else:
        records = codec.records_from_payload(data, feature_names=version.feature_names)
        result = inference.predict(records=records, **common)
    return Response(result.as_dict())


PREDICT_SCHEMA = dict(
    request={"application/json": s.PredictionRequestSerializer, "text/csv": OpenApiTypes.STR},
    responses={
        200: s.PredictionResponseSerializer,
        400: s.ErrorSerializer,
        401: s.ErrorSerializer,
        404: s.ErrorSerializer,
        409: s.ErrorSerializer,
        413: s.ErrorSerializer,
    },
    examples=PREDICT_EXAMPLES,
)
