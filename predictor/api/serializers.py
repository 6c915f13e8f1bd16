"""DRF serializers: the shapes of the public contract (../shared/API.md)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from predictor.models import (
    Dataset,
    ModelVersion,
    Prediction,
    RegisteredModel,
    Stage,
    Task,
    TrainingJob,
)
from predictor.services import access
from predictor.services.errors import NotFound
from predictor.services.log import sealing
from predictor.services.registry.datasets import dataset_find, dataset_profile
from predictor.services.training import ALGORITHMS, defaults


def username_of(source: str) -> serializers.CharField:
    """The username of a user relation (null when there is none)."""
    return serializers.CharField(
        source=f"{source}.username", read_only=True, default=None, allow_null=True
    )


class VersionSummarySerializer(serializers.ModelSerializer):
    main_metric = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["version", "stage", "algorithm", "main_metric", "created_at"]

    def get_main_metric(self, obj) -> dict | None:
        name, value = obj.main_metric
        return {"name": name, "value": value} if name else None


class RegisteredModelSerializer(serializers.ModelSerializer):
    production_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RegisteredModel
        fields = [
            "name",
            "task",
            "description",
            "public",
            "production_version",
            "created_at",
            "updated_at",
        ]


class RegisteredModelDetailSerializer(RegisteredModelSerializer):
    versions = VersionSummarySerializer(many=True, read_only=True)

    class Meta(RegisteredModelSerializer.Meta):
        fields = RegisteredModelSerializer.Meta.fields + ["sensitive", "versions"]


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    task = serializers.CharField(source="model.task", read_only=True)
    target = serializers.CharField(source="target_name", read_only=True)
    created_by = username_of("created_by")
    training_job = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "task",
            "stage",
            "algorithm",
            "params",
            "schema",
            "target",
            "classes",
            "metrics",
            "dataset",
            "training_job",
            "sha256",
            "size_bytes",
            "artifact_format",
            "runtime",
            "runtime_note",
            "compiled_sha256",
            "library_versions",
            "sensitive",
            "notes",
            "created_by",
            "created_at",
        ]

    def _viewer(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # The model's list, and for non-staff no training figure of those features.
        data["sensitive"] = list(instance.model.sensitive or [])
        data["schema"] = access.version_schema_shown(version=instance, user=self._viewer())
        return data

    def get_training_job(self, obj) -> int | None:
        job = getattr(obj, "training_job", None)
        return job.pk if job else None


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = ModelVersionSerializer.Meta.fields + ["reference_stats"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not access.sees_training_figures(user=self._viewer()):
            data.pop("reference_stats", None)  # staff only (they may hold training values)
        return data


class StrictCharField(serializers.CharField):
    """Text only: a number or a boolean is a 400, not turned into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false only: 0, 1 or "yes" is a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictFloatField(serializers.FloatField):
    """A JSON number only: true, false or "0.5" is a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON whole number only: true, false, 1.0 or "1" is a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClosedFields:
    """A body that names a field this serializer does not have is a 400 naming it (a typo
    is never silently ignored); nested serializers too."""

    unknown_message = None  # default: "unknown field; expected one of: <fields>"

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            message = self.unknown_message or "unknown field; expected one of: " + ", ".join(
                self.fields
            )
            raise serializers.ValidationError({k: [message] for k in unknown})
        return super().to_internal_value(data)


class VersionChangeSerializer(ClosedFields, serializers.Serializer):
    """What may change on a version after it is made (staff)."""

    unknown_message = "a version is immutable; only sensitive and notes change"

    sensitive = serializers.ListField(
        child=StrictCharField(max_length=200), required=False, max_length=1000
    )
    notes = StrictCharField(required=False, allow_blank=True, max_length=10000)
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")


class ModelChangeSerializer(ClosedFields, serializers.Serializer):
    """A change of a model's sensitive list (managers), recorded with who, when and why."""

    sensitive = serializers.ListField(child=StrictCharField(max_length=200), max_length=1000)
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")


class RouteSerializer(ClosedFields, serializers.Serializer):
    version = StrictIntegerField(min_value=1, max_value=2**31 - 1)
    weight = StrictIntegerField(min_value=1, max_value=100)


class TrafficSerializer(ClosedFields, serializers.Serializer):
    """A model's traffic policy: routes (weights sum to 100), shadows, and why."""

    routes = RouteSerializer(many=True)
    shadows = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**31 - 1),
        required=False,
        default=list,
    )
    reason = StrictCharField(max_length=2000)


class TrafficAnswerSerializer(serializers.Serializer):
    routes = RouteSerializer(many=True)
    shadows = serializers.ListField(child=serializers.IntegerField())
    reason = serializers.CharField(allow_blank=True)
    updated_by = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def of(row) -> dict:
        return {
            "routes": row.routes,
            "shadows": row.shadows,
            "reason": row.reason,
            "updated_by": row.updated_by.username if row.updated_by_id else None,
            "updated_at": row.updated_at,
        }


class RetrainSerializer(ClosedFields, serializers.Serializer):
    """A retraining request: every field optional."""

    include_feedback = StrictBooleanField(required=False, default=True)
    feedback_from = serializers.ChoiceField(
        choices=["staff", "everyone"], required=False, default="staff"
    )
    algorithm = serializers.ChoiceField(choices=list(ALGORITHMS), required=False)
    params = serializers.DictField(required=False)
    promote = serializers.ChoiceField(
        choices=["never", "if_better"], required=False, default="never"
    )
    min_improvement = StrictFloatField(required=False, default=0.0, min_value=0.0, max_value=1e6)
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class RetrainPolicySerializer(ClosedFields, serializers.Serializer):
    every_hours = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=24 * 365
    )
    on_drift = StrictBooleanField(required=False, default=False)
    on_live_below = StrictFloatField(required=False, allow_null=True, min_value=0.0, max_value=1e12)
    promote = serializers.ChoiceField(
        choices=["never", "if_better"], required=False, default="never"
    )
    min_improvement = StrictFloatField(required=False, default=0.0, min_value=0.0, max_value=1e6)
    include_feedback = StrictBooleanField(required=False, default=True)
    feedback_from = serializers.ChoiceField(
        choices=["staff", "everyone"], required=False, default="staff"
    )
    enabled = StrictBooleanField(required=False, default=True)


class PromoteSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=2000)
    # Needed to promote a version whose input features differ from production's.
    confirm_schema_change = StrictBooleanField(required=False, default=False)


class DatasetSerializer(serializers.ModelSerializer):
    created_by = username_of("created_by")

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "target",
            "row_count",
            "columns",
            "sha256",
            "size_bytes",
            "created_by",
            "created_at",
        ]


class ColumnProfileSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    missing = serializers.FloatField(help_text="The share of rows without a value.")
    distinct = serializers.IntegerField()
    note = serializers.ChoiceField(
        choices=["identifier", "constant"], allow_null=True, help_text="left out by default"
    )


class DatasetDetailSerializer(DatasetSerializer):
    """One dataset, with a profile per column (missing share, distinct values, note)."""

    profile = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "profile"]

    @extend_schema_field(ColumnProfileSerializer(many=True))
    def get_profile(self, obj) -> list:
        return dataset_profile(dataset=obj)


class DatasetUploadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    file = serializers.FileField()
    target = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 100}]})
class DatasetField(serializers.PrimaryKeyRelatedField):
    """A dataset by its id or by its name."""

    def to_internal_value(self, data):
        if not isinstance(data, (str, int)) or isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return dataset_find(key=data)
        except NotFound:
            self.fail("does_not_exist", pk_value=data)


class TrainingRequestSerializer(ClosedFields, serializers.Serializer):
    dataset = DatasetField(
        queryset=Dataset.objects.all(), help_text="The dataset's id or its name."
    )
    model = serializers.CharField(
        max_length=100, required=False, help_text="Default: the dataset's name."
    )
    algorithm = serializers.ChoiceField(choices=list(ALGORITHMS))
    params = serializers.DictField(required=False, default=dict)
    search_space = serializers.DictField(
        child=serializers.ListField(), required=False, allow_null=True, default=None
    )
    test_size = serializers.FloatField(required=False, default=defaults.TEST_SIZE_DEFAULT)
    cv = serializers.IntegerField(required=False, default=defaults.CV_DEFAULT)
    random_state = serializers.IntegerField(
        required=False, allow_null=True, default=defaults.RANDOM_STATE_DEFAULT
    )
    task = serializers.ChoiceField(
        choices=Task.choices, required=False, allow_null=True, default=None
    )
    target = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)
    sensitive = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=1000
    )
    exclude = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=1000,
        help_text="Columns left out of the features; default: those the profile notes.",
    )


class TrainingJobSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    # The new version's holdout figures (a retrain's `baseline_metrics`: production's, on
    # the same rows).
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "status",
            "progress",
            "message",
            "error",
            "dataset",
            "model",
            "version",
            "algorithm",
            "params",
            "search_space",
            "task",
            "target",
            "test_size",
            "cv",
            "random_state",
            "sensitive",
            "options",
            "baseline_metrics",
            "metrics",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_model(self, obj) -> str:
        return obj.model_name

    def get_version(self, obj) -> int | None:
        return obj.version.version if obj.version_id else None

    def get_metrics(self, obj) -> dict | None:
        return obj.version.metrics if obj.version_id else None


class PredictionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.version", read_only=True)
    user = username_of("user")

    class Meta:
        model = Prediction
        fields = [
            "id",
            "model",
            "version",
            "inputs",
            "output",
            "probabilities",
            "source",
            "user",
            "latency_ms",
            "request_id",
            "created_at",
            "actual",
            "actual_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("decrypt") and instance.sealed:
            data["inputs"] = sealing.unseal(instance.inputs, instance.sealed)
        return data


class FeedbackSerializer(serializers.Serializer):
    actual = serializers.JSONField(allow_null=True)


class PredictionRequestSerializer(serializers.Serializer):
    """One of: inputs, data, instances, dataframe_split, dataframe_records (see the API docs)."""

    inputs = serializers.JSONField(required=False)
    data = serializers.ListField(child=serializers.ListField(), required=False)
    instances = serializers.ListField(required=False)
    dataframe_split = serializers.DictField(required=False)
    dataframe_records = serializers.ListField(child=serializers.DictField(), required=False)


class PredictionResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.JSONField())
    probabilities = serializers.ListField(
        child=serializers.DictField(child=serializers.FloatField()), required=False
    )
    prediction_ids = serializers.ListField(child=serializers.IntegerField())
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
