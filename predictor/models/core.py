"""The model registry: datasets, registered models, versions, jobs, transitions, predictions."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*\Z",
    "Use lowercase letters, digits, '-' and '_', starting with a letter or digit.",
)


class Task(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"


class Stage(models.TextChoices):
    NONE = "none", "None"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class Runtime(models.TextChoices):
    ONNX = "onnx", "ONNX Runtime (compiled)"
    SKLEARN = "sklearn", "scikit-learn"


class Authored(models.Model):
    """Who made a row and when; newest first."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class Dataset(Authored):
    """An uploaded (or built-in demo) CSV with its inferred columns."""

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    file = models.FileField(upload_to="datasets/")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    row_count = models.PositiveIntegerField()
    # [{"name", "type": "numeric"|"categorical", "missing", ...stats}]
    columns = models.JSONField(default=list)
    target = models.CharField(max_length=200, help_text="Default target column.")

    def __str__(self):
        return self.name

    @property
    def column_names(self):
        return [c["name"] for c in self.columns]


class RegisteredModel(models.Model):
    """A named model; its versions hold the fitted pipelines."""

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    task = models.CharField(max_length=20, choices=Task.choices)
    description = models.TextField(blank=True)
    public = models.BooleanField(
        default=False, help_text="Anyone, even anonymous visitors, may predict with it."
    )
    # Features whose logged values are sealed (encrypted or redacted): a property of the
    # model, followed by every version, shadow, retrain and import; changes are recorded
    # in SensitiveChange.
    sensitive = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "registered model"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("model-page", args=[self.name])


IMPORTED_PREFIX = "imported:"  # the algorithm of a version trained elsewhere

IMMUTABLE_VERSION_FIELDS = (
    "model_id",
    "version",
    "algorithm",
    "params",
    "schema",
    "target_name",
    "classes",
    "metrics",
    "dataset_id",
    "artifact",
    "artifact_format",
    "sha256",
    "size_bytes",
    "library_versions",
    "reference_stats",
    "importance",
    "feedback_from",
    "created_by_id",
)


class ImmutableFieldError(Exception):
    pass


class ModelVersion(models.Model):
    """One immutable fitted pipeline of a registered model; only stage and notes change."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    algorithm = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    # [{"name", "type", "nullable", "min", "max", "mean", "std", "missing", "categories"}]
    schema = models.JSONField(default=list)
    target_name = models.CharField(max_length=200)
    classes = models.JSONField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="versions"
    )
    artifact = models.CharField(max_length=255, help_text="File name in the artifact store.")
    artifact_format = models.CharField(max_length=10, default="joblib")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    library_versions = models.JSONField(default=dict, blank=True)
    reference_stats = models.JSONField(default=dict, blank=True)
    # Lineage of a retrained version: the production version it was trained to replace and
    # how many logged predictions with ground truth joined its training data.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    feedback_rows = models.PositiveIntegerField(default=0)
    # Whose feedback joined its training data: {"staff": n, "users": n, "user_ids": [...]}.
    feedback_from = models.JSONField(default=dict, blank=True)
    # Features whose logged values are encrypted (or redacted): the one part of a version,
    # besides its stage and notes, that staff may change later.
    sensitive = models.JSONField(default=list, blank=True)
    # The compiled runtime, set once when it is built (`runtime` "" until then): "onnx"
    # with its own hash-checked artifact, or "sklearn" with the reason in `runtime_note`.
    runtime = models.CharField(max_length=10, choices=Runtime.choices, blank=True)
    runtime_note = models.TextField(blank=True)
    compiled_artifact = models.CharField(max_length=255, blank=True)
    compiled_sha256 = models.CharField(max_length=64, blank=True)
    # An imported version: what drives it, computed in the import sandbox (its pipeline is
    # never loaded by a server process), and that sandbox's audit report. `audit` is
    # {"status": "passed" | "refused", ...}; `manage.py check_artifacts` may audit again.
    importance = models.JSONField(null=True, blank=True)
    audit = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NONE)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_version_per_model"),
            models.UniqueConstraint(
                fields=["model"],
                condition=models.Q(stage="production"),
                name="one_production_version_per_model",
            ),
        ]
        indexes = [models.Index(fields=["model", "stage"])]

    def __str__(self):
        return f"{self.model.name} v{self.version}"

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        mutable_only = update_fields is not None and set(update_fields) <= {
            "stage",
            "notes",
            "sensitive",
        }
        if self.pk and not self._state.adding and not mutable_only:
            original = ModelVersion.objects.filter(pk=self.pk).values(*IMMUTABLE_VERSION_FIELDS)
            original = original.first()
            if original:
                changed = [f for f in IMMUTABLE_VERSION_FIELDS if original[f] != getattr(self, f)]
                if changed:
                    raise ImmutableFieldError(
                        f"A model version is immutable; cannot change {', '.join(changed)}."
                    )
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("model-page", args=[self.model.name]) + f"?version={self.version}"

    @property
    def is_imported(self) -> bool:
        """Trained elsewhere and imported: served by its verified ONNX graph only."""
        return self.algorithm.startswith(IMPORTED_PREFIX)

    @property
    def feature_names(self):
        return [f["name"] for f in self.schema]

    @property
    def main_metric(self):
        """(name, value) of the headline metric, or (None, None)."""
        name = self.metrics.get("main")
        return name, self.metrics.get(name) if name else None


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobKind:
    """What a job does (`TrainingJob.kind`; each kind's runner is registered in
    `services.jobs`). Batch scoring of a CSV file is stored as "batch"."""

    TRAIN = "train"
    RETRAIN = "retrain"
    SCORING = "batch"


class TrainingJob(Authored):
    """A request to train a model version, run in the background."""

    kind = models.CharField(max_length=20, default=JobKind.TRAIN, help_text="What the job does.")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=200, blank=True, help_text="Current step.")
    # The training data (none for a batch-scoring job).
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    model_name = models.CharField(max_length=100, validators=[slug_validator])
    task = models.CharField(max_length=20, choices=Task.choices, blank=True)
    target = models.CharField(max_length=200, blank=True)
    algorithm = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    search_space = models.JSONField(null=True, blank=True)
    test_size = models.FloatField(default=0.2)
    cv = models.PositiveSmallIntegerField(default=5)
    random_state = models.IntegerField(null=True, blank=True)
    sensitive = models.JSONField(default=list, blank=True, help_text="Features logged encrypted.")
    # Retraining: include_feedback, promote, min_improvement, reason, parent (version id).
    options = models.JSONField(default=dict, blank=True)
    # Retraining: the production version's metrics on the new version's holdout.
    baseline_metrics = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    version = models.OneToOneField(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_job",
    )
    # Which process holds the job ("host:pid"), so a restart can tell orphaned jobs.
    runner = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written every JOB_HEARTBEAT_SECONDS while the job runs: a running job whose heartbeat
    # stops (its worker died, on any machine) is ended by `jobs_reap_stale`.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta(Authored.Meta):
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return f"job {self.pk}: {self.algorithm} → {self.model_name} ({self.status})"

    def get_absolute_url(self):
        return reverse("job-page", args=[self.pk])

    @property
    def done(self):
        return self.status in ENDED


class StageTransition(Authored):
    """Audit row: who moved a version from one stage to another, when and why."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    reason = models.TextField(blank=True)

    def __str__(self):
        return f"{self.version}: {self.from_stage} → {self.to_stage}"


class SensitiveChange(Authored):
    """Audit row: who changed a model's sensitive list, when and why (like a promotion)."""

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="sensitive_changes"
    )
    old = models.JSONField(default=list)
    new = models.JSONField(default=list)
    reason = models.TextField(blank=True)

    def __str__(self):
        return f"{self.model}: sensitive {self.old} → {self.new}"


class FeedbackSource(models.TextChoices):
    """Who gave a prediction's ground truth: evidence of different weight."""

    STAFF = "staff", "Staff"
    USER = "user", "User"
    ANONYMOUS = "anonymous", "Anonymous"


class Source(models.TextChoices):
    API = "api", "REST API"
    V2 = "v2", "Open Inference Protocol"
    WEB = "web", "Web form"
    BATCH = "batch", "Batch upload"
    SHADOW = "shadow", "Shadow version"


class Prediction(models.Model):
    """One served prediction (one input row), with optional ground truth.

    The log grows by millions of rows: its foreign keys are kept by the ORM (PROTECT,
    CASCADE, SET NULL) without database constraints, whose per-row checks would double the
    cost of every insert, and each index serves a filter of the history, newest first.
    """

    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    version = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="predictions",
        db_constraint=False,
        db_index=False,
    )
    inputs = models.JSONField()
    output = models.JSONField()
    probabilities = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
    )
    latency_ms = models.FloatField(default=0.0)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    actual = models.JSONField(null=True, blank=True)
    actual_at = models.DateTimeField(null=True, blank=True)
    # Who gave `actual` (staff, a user, an anonymous visitor) and, for a person, who.
    actual_source = models.CharField(max_length=10, choices=FeedbackSource.choices, blank=True)
    actual_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The values of the version's sensitive features, encrypted together (a Fernet token;
    # "" when there are none or no key is set). `inputs` holds "***" in their place.
    sealed = models.TextField(blank=True, default="")
    # A shadow version's row points at the row that was served (no constraint, see above).
    shadow_of = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="pred_created"),
            models.Index(fields=["model", "created_at", "id"], name="pred_model_at"),
            models.Index(fields=["version", "created_at", "id"], name="pred_version_at"),
            models.Index(fields=["user", "created_at", "id"], name="pred_user_at"),
            models.Index(fields=["user", "model", "created_at", "id"], name="pred_user_model_at"),
            models.Index(fields=["source", "created_at", "id"], name="pred_source_at"),
            models.Index(fields=["request_id"], name="pred_request_id"),
            # Rows with ground truth (few): live accuracy and retraining read them.
            models.Index(
                fields=["version", "created_at"],
                name="pred_labelled",
                condition=models.Q(actual__isnull=False),
            ),
        ]

    def __str__(self):
        return f"prediction {self.pk}"

    def get_absolute_url(self):
        return reverse("prediction-page", args=[self.pk])


class PredictionHour(models.Model):
    """The prediction log summed by hour, model, version, source and user: what charts and
    monitoring read, so their cost does not grow with the log, and what survives pruning.

    Kept up to date by the log's writer (one upsert per key in the flush that inserts the
    rows) and by feedback. Counts are JSON objects of counts (nested for features) that the
    database adds key by key (`mlsite_json_add`, see the migration).
    """

    hour = models.DateTimeField()
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices)
    user_key = models.BigIntegerField(
        default=0, help_text="The user's id; 0 for anonymous; -1 for the sum of all users."
    )
    predictions = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0.0)
    # Requests by latency bucket: {"le_1": n, ..., "le_inf": n} (upper bounds in ms).
    latency = models.JSONField(default=dict)
    # Classes: {"class": n}; regression: counts on the target's training bins {"3": n}.
    outputs = models.JSONField(default=dict)
    output_sum = models.FloatField(default=0.0)
    output_sumsq = models.FloatField(default=0.0)
    # {"feature": {"bin or category": n}} on the version's reference bins.
    features = models.JSONField(default=dict)
    labelled = models.BigIntegerField(default=0)
    correct = models.BigIntegerField(default=0)
    abs_error_sum = models.FloatField(default=0.0)
    sq_error_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "model", "version", "source", "user_key"], name="one_row_an_hour"
            )
        ]
        indexes = [
            models.Index(fields=["model", "hour"], name="hour_model"),
            models.Index(fields=["version", "hour"], name="hour_version"),
            models.Index(fields=["hour"], name="hour_hour"),
        ]

    def __str__(self):
        return f"{self.model_id} v{self.version_id} {self.hour:%Y-%m-%d %H}h"


class RegistryGeneration(models.Model):
    """One row whose number goes up whenever what answers a request may change (a stage, a
    model's `public` flag, a traffic policy): each server process compares it at most once
    a second and drops its cached versions when it moved."""

    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"registry generation {self.value}"
