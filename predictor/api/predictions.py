"""The prediction log: history, one prediction, feedback, and the CSV export."""

import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, renderers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.errors import query_check
from predictor.api.pagination import LogCursorPagination
from predictor.filters import PredictionFilter
from predictor.services import access
from predictor.services.log import history
from predictor.services.serving import inference


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only reached for error bodies; the export itself is streamed by the view.
        return json.dumps(data).encode()


def _decrypt_asked(request) -> bool:
    """?decrypt=true|false; only staff get sensitive values back (others keep "***")."""
    raw = request.query_params.get("decrypt", "false")
    if raw not in ("true", "false"):
        raise ValidationError({"decrypt": ["use true or false"]})
    return raw == "true" and access.may_decrypt(user=request.user)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "model",
                {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]*$", "maxLength": 100},
                description="Model name.",
            ),
            OpenApiParameter(
                "format",
                {"type": "string", "enum": ["json", "csv"]},
                description="csv: export every matching row (streamed; no paging).",
            ),
            OpenApiParameter(
                "decrypt",
                {"type": "string", "enum": ["true", "false"]},
                description="Staff: show the values of sensitive features.",
            ),
            *[
                OpenApiParameter(
                    name,
                    {"type": "string", "format": "date-time"},
                    description=f"ISO 8601 ({'from' if name == 'since' else 'up to'}); "
                    "a UTC offset within ±14:00, none means UTC.",
                )
                for name in ("since", "until")
            ],
        ]
    )
)
class PredictionViewSet(viewsets.ReadOnlyModelViewSet):
    """Logged predictions, newest first (own ones; staff: all); `?format=csv` exports."""

    serializer_class = s.PredictionSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_class = PredictionFilter
    pagination_class = LogCursorPagination
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    def get_queryset(self):
        return selectors.predictions_visible_to(self.request.user).order_by("-created_at", "-id")

    def perform_content_negotiation(self, request, force=False):
        fmt = request.query_params.get("format")
        if not force and fmt is not None and fmt not in ("json", "csv", "api"):
            raise ValidationError({"format": ["use json or csv"]})
        return super().perform_content_negotiation(request, force)

    def get_renderers(self):
        renderers_ = super().get_renderers()
        # CSV is an export of the list only.
        return renderers_ if self.action == "list" else [r for r in renderers_ if r.format != "csv"]

    def get_object(self):
        return selectors.prediction_get(pk=self.kwargs["pk"], user=self.request.user)

    QUERY_PARAMS = {
        "model",
        "version",
        "source",
        "since",
        "until",
        "cursor",
        "page_size",
        "format",
        "decrypt",
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "decrypt": _decrypt_asked(self.request)}

    def retrieve(self, request, *args, **kwargs):
        query_check(request.query_params, {"decrypt", "format"}, empty=True)
        return super().retrieve(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        query_check(request.query_params, self.QUERY_PARAMS)
        if request.query_params.get("format", "json") not in ("json", "csv", "api"):
            raise ValidationError({"format": ["use json or csv"]})
        self.paginator.validate(request)
        decrypt = _decrypt_asked(request)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return self._csv(self.filter_queryset(self.get_queryset()), decrypt)
        return super().list(request, *args, **kwargs)

    def _csv(self, queryset, decrypt: bool):
        name = self.request.query_params.get("model")
        features = selectors.model_feature_names(name) if name else None
        response = StreamingHttpResponse(
            history.export(queryset=queryset, features=features, decrypt=decrypt),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="predictions.csv"'
        return response

    @extend_schema(
        request=s.FeedbackSerializer,
        responses={200: s.PredictionSerializer, 400: s.ErrorSerializer, 404: s.ErrorSerializer},
    )
    @action(detail=True, methods=["post"], renderer_classes=[renderers.JSONRenderer])
    def feedback(self, request, pk=None):
        """Store the ground truth (`actual`) of one of your predictions."""
        body = s.FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        prediction = inference.prediction_feedback(
            prediction=self.get_object(), actual=body.validated_data["actual"], user=request.user
        )
        return Response(s.PredictionSerializer(prediction).data)
