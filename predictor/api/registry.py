"""Registered models and their versions: read, predict, promote."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.errors import query_check
from predictor.api.permissions import IsManager, StaffReadsManagersWrite
from predictor.api.predict import (
    PREDICT_PARSERS,
    PREDICT_RENDERERS,
    PREDICT_SCHEMA,
    predict_response,
)
from predictor.models import ModelVersion, RegisteredModel
from predictor.services import monitoring, registry, training
from predictor.services.monitoring import compare
from predictor.services.serving import routing, traffic
from predictor.services.training import policies


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
        return selectors.model_usable(name=self.kwargs["name"], user=self.request.user)

    def get_permissions(self):
        if self.action == "partial_update":
            return [IsManager()]
        return super().get_permissions()

    @extend_schema(
        request=s.ModelChangeSerializer,
        responses={200: s.RegisteredModelDetailSerializer, 400: s.ErrorSerializer},
    )
    def partial_update(self, request, name=None):
        """Change the model's sensitive features, recorded with who, when and why (managers)."""
        body = s.ModelChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        registry.model_sensitive_set(
            model=routing.model_get(name=name, user=request.user),
            user=request.user,
            **body.validated_data,
        )
        return Response(s.RegisteredModelDetailSerializer(self.get_object()).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int, description="A version number (default: production).")
        ],
        **PREDICT_SCHEMA,
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=PREDICT_PARSERS,
        renderer_classes=PREDICT_RENDERERS,
    )
    def predict(self, request, name=None):
        """Predict with the production version, or `?version=N`."""
        return predict_response(request, name, request.query_params.get("version"))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "versions",
                {"type": "string", "pattern": r"^[0-9]{1,9}(,[0-9]{1,9})+$"},
                required=True,
                description="Two or more version numbers: 2,3",
            ),
            *[
                OpenApiParameter(n, {"type": "string", "format": "date-time"})
                for n in ("since", "until")
            ],
        ],
        responses={200: dict, 400: s.ErrorSerializer, 404: s.ErrorSerializer},
    )
    @action(detail=True, methods=["get"], permission_classes=[permissions.IsAdminUser])
    def compare(self, request, name=None):
        """Versions side by side on live traffic: latency, live accuracy (or MAE) with 95%
        intervals, agreement on shared rows, and a test of the difference (staff)."""
        query = request.query_params
        query_check(query, {"versions", "since", "until", "format"})
        return Response(
            compare.model_report(
                model_name=name,
                user=request.user,
                versions=query.get("versions"),
                since=query.get("since"),
                until=query.get("until"),
            )
        )

    @extend_schema(
        request=s.RetrainSerializer,
        responses={
            202: s.TrainingJobSerializer,
            400: s.ErrorSerializer,
            409: s.ErrorSerializer,
            429: s.ErrorSerializer,  # the person's queued and running jobs are at their cap
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[StaffReadsManagersWrite])
    def retrain(self, request, name=None):
        """Retrain on the production version's data plus feedback; gated promotion (staff)."""
        model = routing.model_get(name=name, user=request.user)
        body = s.RetrainSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = training.retrain_create(model=model, user=request.user, **body.validated_data)
        return Response(s.TrainingJobSerializer(job).data, status=202)

    @extend_schema(
        methods=["GET"], responses={200: s.RetrainPolicySerializer, 404: s.ErrorSerializer}
    )
    @extend_schema(
        methods=["PUT"],
        request=s.RetrainPolicySerializer,
        responses={200: s.RetrainPolicySerializer, 400: s.ErrorSerializer, 404: s.ErrorSerializer},
    )
    @action(
        detail=True,
        methods=["get", "put"],
        url_path="retrain-policy",
        permission_classes=[StaffReadsManagersWrite],
    )
    def retrain_policy(self, request, name=None):
        """When the model retrains by itself (staff; PUT replaces the policy)."""
        model = routing.model_get(name=name, user=request.user)
        if request.method == "PUT":
            body = s.RetrainPolicySerializer(data=request.data)
            body.is_valid(raise_exception=True)
            policy = policies.policy_set(model=model, user=request.user, **body.validated_data)
        else:
            policy = policies.policy_get(model=model)
        return Response(s.RetrainPolicySerializer(policy).data)

    @extend_schema(
        methods=["GET"], responses={200: s.TrafficAnswerSerializer, 404: s.ErrorSerializer}
    )
    @extend_schema(
        methods=["PUT"],
        request=s.TrafficSerializer,
        responses={200: s.TrafficAnswerSerializer, 400: s.ErrorSerializer, 404: s.ErrorSerializer},
    )
    @action(detail=True, methods=["get", "put"], permission_classes=[StaffReadsManagersWrite])
    def traffic(self, request, name=None):
        """The traffic policy: routes with weights, shadow versions (staff; PUT replaces it,
        recorded with who, when and why)."""
        model = routing.model_get(name=name, user=request.user)
        if request.method == "PUT":
            body = s.TrafficSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            row = traffic.policy_set(model=model, user=request.user, **body.validated_data)
        else:
            row = traffic.policy_row(model=model)
        data = s.TrafficAnswerSerializer(s.TrafficAnswerSerializer.of(row)).data
        return Response(data)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
            *[
                OpenApiParameter(n, {"type": "string", "format": "date-time"})
                for n in ("since", "until")
            ],
            OpenApiParameter("bucket", {"type": "string", "enum": ["minute", "hour", "day"]}),
        ],
        responses={200: dict, 400: s.ErrorSerializer, 404: s.ErrorSerializer},
    )
    @action(detail=True, methods=["get"], permission_classes=[permissions.IsAdminUser])
    def monitoring(self, request, name=None):
        """Traffic, outputs, live accuracy and drift of a version over a window (staff)."""
        query = request.query_params
        query_check(query, {"version", "since", "until", "bucket", "format"})
        return Response(
            monitoring.version_report(
                model_name=name,
                user=request.user,
                version=query.get("version"),
                since=query.get("since"),
                until=query.get("until"),
                bucket=query.get("bucket"),
            )
        )


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
        return selectors.model_versions(self._model())

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
    @action(
        detail=True,
        methods=["post"],
        parser_classes=PREDICT_PARSERS,
        renderer_classes=PREDICT_RENDERERS,
    )
    def predict(self, request, model_name=None, version=None):
        """Predict with this exact version."""
        return predict_response(request, model_name, version)

    def get_permissions(self):
        if self.action == "partial_update":
            return [StaffReadsManagersWrite()]
        return super().get_permissions()

    @extend_schema(
        request=s.VersionChangeSerializer,
        responses={200: s.ModelVersionDetailSerializer, 400: s.ErrorSerializer},
    )
    def partial_update(self, request, model_name=None, version=None):
        """Mark features sensitive (their logged values are encrypted) or edit notes (staff)."""
        body = s.VersionChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = registry.version_change(
            version=self.get_object(), user=request.user, **body.validated_data
        )
        return Response(
            s.ModelVersionDetailSerializer(changed, context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=s.PromoteSerializer,
        responses={200: s.ModelVersionSerializer, 400: s.ErrorSerializer, 409: s.ErrorSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[StaffReadsManagersWrite])
    def promote(self, request, model_name=None, version=None):
        """Move the version to a stage; to production archives the previous one, and needs
        `confirm_schema_change` when its input features differ from production's (staff)."""
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target = self.get_object()
        updated = registry.version_promote(version=target, user=request.user, **body.validated_data)
        return Response(s.ModelVersionSerializer(updated).data)
