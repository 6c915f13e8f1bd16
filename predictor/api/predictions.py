"""The prediction log: history, one prediction, feedback, and the CSV export."""

import csv
import json

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, renderers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.pagination import PagePagination
from predictor.filters import PredictionFilter
from predictor.services import csvsafe
from predictor.services.serving import inference


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Only reached for error bodies; the export itself is streamed by the view.
        return json.dumps(data).encode()


CSV_COLUMNS = [
    "id",
    "created_at",
    "model",
    "version",
    "source",
    "user",
    "output",
    "probabilities",
    "actual",
    "latency_ms",
    "request_id",
    "inputs",
]


class _Echo:
    def write(self, value):
        return value


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
                description="csv: export every matching row.",
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
    pagination_class = PagePagination
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

    QUERY_PARAMS = {"model", "version", "source", "since", "until", "page", "page_size", "format"}

    def list(self, request, *args, **kwargs):
        unknown = sorted(set(request.query_params) - self.QUERY_PARAMS)
        if unknown:
            # A typo such as ?modle=iris would otherwise silently return everything.
            raise ValidationError(
                {
                    unknown[0]: [
                        "unknown query parameter; use: " + ", ".join(sorted(self.QUERY_PARAMS))
                    ]
                }
            )
        empty = sorted(k for k, v in request.query_params.items() if v == "")
        if empty:
            raise ValidationError({empty[0]: ["empty value; leave the parameter out instead"]})
        if request.query_params.get("format", "json") not in ("json", "csv", "api"):
            raise ValidationError({"format": ["use json or csv"]})
        self.paginator.validate(request)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return self._csv(self.filter_queryset(self.get_queryset()))
        return super().list(request, *args, **kwargs)

    def _csv(self, queryset):
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for p in queryset.iterator(chunk_size=2000):
                yield writer.writerow(
                    csvsafe.row(
                        [
                            p.pk,
                            p.created_at.isoformat(),
                            p.model.name,
                            p.version.version,
                            p.source,
                            p.user.username if p.user_id else "",
                            json.dumps(p.output),
                            json.dumps(p.probabilities) if p.probabilities is not None else "",
                            json.dumps(p.actual) if p.actual is not None else "",
                            round(p.latency_ms, 3),
                            p.request_id,
                            json.dumps(p.inputs),
                        ]
                    )
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
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
            prediction=self.get_object(), actual=body.validated_data["actual"]
        )
        return Response(s.PredictionSerializer(prediction).data)
