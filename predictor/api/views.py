"""The REST API: parse, call a service, render. No product rule lives here."""

import csv
import json

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, permissions, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.pagination import PagePagination
from predictor.api.parsers import CSVParser, SafeJSONParser
from predictor.filters import PredictionFilter
from predictor.models import (
    Dataset,
    ModelVersion,
    RegisteredModel,
    Source,
    TrainingJob,
)
from predictor.services import csvsafe, datasets, inference, registry, routing, schema, training

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


def _records(request, version: ModelVersion) -> list[dict]:
    """Records from the body: JSON in any accepted shape, or text/csv with a header row."""
    data = request.data
    if isinstance(data, dict) and "__csv__" in data:
        return schema.records_from_csv(data["__csv__"], schema=version.schema)
    return schema.records_from_payload(data, feature_names=version.feature_names)


def predict_response(request, model_name: str, version=None) -> Response:
    version = routing.version_for(model_name=model_name, user=request.user, version=version)
    result = inference.predict(
        version=version,
        records=_records(request, version),
        source=Source.API,
        user=request.user,
        request_id=request.request_id,
    )
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


class RegisteredModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered models the caller may use; `predict` serves the production version."""

    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    permission_classes = [permissions.AllowAny]
    pagination_class = None

    def get_queryset(self):
        return selectors.models_visible_to(self.request.user)

    def get_serializer_class(self):
        return (
            s.RegisteredModelDetailSerializer
            if self.action == "retrieve"
            else s.RegisteredModelSerializer
        )

    def get_object(self):
        name = self.kwargs["name"]
        routing.model_get(name=name, user=self.request.user)
        return selectors.models_with_production().get(name=name)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int, description="A version number (default: production).")
        ],
        **PREDICT_SCHEMA,
    )
    @action(detail=True, methods=["post"], parser_classes=[SafeJSONParser, CSVParser])
    def predict(self, request, name=None):
        """Predict with the production version, or `?version=N`."""
        return predict_response(request, name, request.query_params.get("version"))


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Versions of one model, newest first; `predict` with one; `promote` it (staff)."""

    lookup_field = "version"
    lookup_value_regex = r"[0-9]+"
    permission_classes = [permissions.AllowAny]
    pagination_class = None

    def _model(self) -> RegisteredModel:
        return routing.model_get(name=self.kwargs["model_name"], user=self.request.user)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        return (
            ModelVersion.objects.filter(model=self._model())
            .select_related("model", "created_by", "training_job")
            .order_by("-version")
        )

    def get_object(self):
        version = self.get_queryset().filter(version=self.kwargs["version"]).first()
        if version is None:
            raise NotFound(
                f"model {self.kwargs['model_name']!r} has no version {self.kwargs['version']}"
            )
        return version

    def get_serializer_class(self):
        return (
            s.ModelVersionDetailSerializer
            if self.action == "retrieve"
            else s.ModelVersionSerializer
        )

    @extend_schema(**PREDICT_SCHEMA)
    @action(detail=True, methods=["post"], parser_classes=[SafeJSONParser, CSVParser])
    def predict(self, request, model_name=None, version=None):
        """Predict with this exact version."""
        return predict_response(request, model_name, version)

    @extend_schema(
        request=s.PromoteSerializer,
        responses={200: s.ModelVersionSerializer, 400: s.ErrorSerializer, 409: s.ErrorSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAdminUser])
    def promote(self, request, model_name=None, version=None):
        """Move the version to a stage; to production archives the previous one (staff)."""
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target = self.get_object()
        updated = registry.version_promote(version=target, user=request.user, **body.validated_data)
        return Response(s.ModelVersionSerializer(updated).data)


class DatasetViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Uploaded datasets with their inferred columns (staff)."""

    queryset = Dataset.objects.select_related("created_by")
    serializer_class = s.DatasetSerializer
    permission_classes = [permissions.IsAdminUser]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": s.DatasetUploadSerializer},
        responses={201: s.DatasetSerializer, 400: s.ErrorSerializer, 413: s.ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Upload a CSV (multipart: name, file, optional target, default the last column)."""
        upload = s.DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = datasets.dataset_create(user=request.user, **upload.validated_data)
        return Response(s.DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class TrainingJobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training jobs: start one (202) and poll its status and progress (staff)."""

    queryset = TrainingJob.objects.select_related("version")
    serializer_class = s.TrainingJobSerializer
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=s.TrainingRequestSerializer,
        responses={202: s.TrainingJobSerializer, 400: s.ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Start training; answers 202 with the queued job."""
        body = s.TrainingRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        job = training.job_create(
            dataset=data.pop("dataset"), model_name=data.pop("model"), user=request.user, **data
        )
        return Response(s.TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


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
        return inference.prediction_get(pk=self.kwargs["pk"], user=self.request.user)

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
