"""Open Inference Protocol (KServe V2) REST endpoints under /v2/. Errors: {"error": "…"}."""

from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from predictor.api.errors import exception_handler
from predictor.api.parsers import AnyAsJSONParser, SafeJSONParser
from predictor.api.v2 import codec
from predictor.models import Source
from predictor.services.errors import InvalidInput, VersionUnavailable
from predictor.services.monitoring import health
from predictor.services.serving import routing, runtime
from predictor.web.timing import prediction_timed

SERVER = {"name": "mlsite", "version": "1.0.0", "extensions": ["model_repository_metadata"]}


def _as_error(response):
    data = response.data
    if isinstance(data, dict) and "detail" in data:
        message = str(data["detail"])
    elif isinstance(data, dict):
        message = "; ".join(f"{k}: {v}" for k, v in data.items())
    else:
        message = str(data)
    response.data = {"error": message}
    return response


class V2View(APIView):
    permission_classes = [permissions.AllowAny]
    renderer_classes = [JSONRenderer]
    parser_classes = [SafeJSONParser, AnyAsJSONParser]

    def get_exception_handler(self):
        return lambda exc, context: _as_error(exception_handler(exc, context))

    def version_for(self, request, name, version=None):
        return routing.version_for(model_name=name, user=request.user, version=version)


@extend_schema(tags=["v2"], responses={200: OpenApiTypes.OBJECT})
class ServerLive(V2View):
    """Server liveness."""

    def get(self, request):
        return Response({"live": True})


@extend_schema(tags=["v2"], responses={200: OpenApiTypes.OBJECT})
class ServerReady(V2View):
    """Server readiness, as /readyz decides it: ready while the database answers; the
    production versions that cannot serve are listed (the others still serve)."""

    def get(self, request):
        answer = health.readiness()
        if answer.status == health.UNREADY:
            return Response(
                {"ready": False, "error": "database unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        body = {"ready": True}
        if answer.status == health.DEGRADED:
            body["unavailable"] = answer.checks.get("artifacts", "")
        return Response(body)


@extend_schema(tags=["v2"], responses={200: OpenApiTypes.OBJECT})
class ServerMetadata(V2View):
    """Server metadata."""

    def get(self, request):
        return Response(SERVER)


@extend_schema(tags=["v2"], responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
class ModelMetadata(V2View):
    """Model (or model version) metadata: one input per feature, outputs predict[_proba]."""

    def get(self, request, name, version=None):
        found = self.version_for(request, name, version)
        numbers = list(found.model.versions.order_by("version").values_list("version", flat=True))
        return Response(codec.model_metadata(found, numbers))


@extend_schema(tags=["v2"], responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
class ModelReady(V2View):
    """Model readiness: the version exists and its artifact loads (hash-checked)."""

    def get(self, request, name, version=None):
        found = self.version_for(request, name, version)
        body = {"name": found.model.name, "version": str(found.version), "ready": True}
        try:
            runtime.runtime_for(version=found)
        except VersionUnavailable as exc:
            # Not ready is an answer, not a server error: 400 as Triton answers it.
            body.update(ready=False, error=exc.message)
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body)


@extend_schema(
    tags=["v2"],
    request=OpenApiTypes.OBJECT,
    responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
)
class ModelInfer(V2View):
    """Inference: tensors by feature name, or one 2-D tensor; outputs predict, predict_proba."""

    @method_decorator(prediction_timed(Source.V2))
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, name, version=None):
        route = routing.route(
            model_name=name,
            user=request.user,
            version=version,
            routing_key=request.headers.get("X-Routing-Key"),
        )
        if "Inference-Header-Content-Length" in request.headers:
            raise InvalidInput(
                "binary tensor data is not supported; send JSON data (binary_data=False)"
            )
        body = codec.infer(
            version=route.version,
            body=request.data,
            user=request.user,
            request_id=request.request_id,
            shadows=route.shadows,
        )
        return Response(body)


@extend_schema(exclude=True)
class ServerMetadataNoSlash(ServerMetadata):
    """GET /v2 (what tritonclient asks for), the same as /v2/."""
