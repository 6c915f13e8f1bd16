"""What operations keep about the registry: monitoring alerts and states, traffic policies
and their changes, retrain policies."""

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from predictor.models.core import ModelVersion, RegisteredModel


class MonitoringAlert(models.Model):
    """A change of a production version's monitoring status, found by `manage.py monitor`:
    into warn, drift or degraded, or back to ok. The latest says where the version stands."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="alerts")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="alerts")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    summary = models.CharField(max_length=500, help_text="What changed, in a sentence.")
    figures = models.JSONField(default=dict, help_text="The report's drift and live figures.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered = models.BooleanField(default=False, help_text="Accepted by ALERT_WEBHOOK_URL.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "-created_at"], name="alert_version_at")]

    def __str__(self):
        return f"{self.version}: {self.from_status} → {self.to_status}"


class MonitorState(models.Model):
    """Where each monitored version stood at the last `manage.py monitor` (home badges)."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="monitor")
    status = models.CharField(max_length=20)
    checked_at = models.DateTimeField()

    def __str__(self):
        return f"{self.version}: {self.status}"


class TrafficPolicy(models.Model):
    """How a model's predictions that name no version are split: routes with weights (the
    production version takes everything when there are none) and shadow versions that
    predict the same rows unseen. Changed only through the traffic service, which records
    every change as a TrafficChange."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.CASCADE, related_name="traffic")
    routes = models.JSONField(default=list, blank=True, help_text='[{"version": 2, "weight": 90}]')
    shadows = models.JSONField(default=list, blank=True, help_text="[4]: version numbers")
    reason = models.CharField(max_length=2000, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "traffic policies"

    def __str__(self):
        return f"traffic of {self.model_id}"


class TrafficChange(models.Model):
    """One change of a traffic policy: who, when, why, before and after (audit, read-only)."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="+")
    old = models.JSONField(default=dict)
    new = models.JSONField(default=dict)
    reason = models.CharField(max_length=2000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.model_id} traffic changed {self.created_at:%Y-%m-%d %H:%M}"


class RetrainPolicy(models.Model):
    """When a model retrains by itself: every N hours, on drift, on live accuracy below a
    bound (`manage.py retrain_due`, or Celery beat). Never a second job while one waits."""

    class Gate(models.TextChoices):
        NEVER = "never", "Never promote (staging)"
        IF_BETTER = "if_better", "Promote if better"

    model = models.OneToOneField(
        RegisteredModel, on_delete=models.CASCADE, related_name="retrain_policy"
    )
    every_hours = models.PositiveIntegerField(null=True, blank=True)
    on_drift = models.BooleanField(default=False)
    on_live_below = models.FloatField(null=True, blank=True)
    promote = models.CharField(max_length=20, choices=Gate.choices, default=Gate.NEVER)
    min_improvement = models.FloatField(default=0.0)
    include_feedback = models.BooleanField(default=True)
    # Whose feedback its retraining learns from: staff only, or other users' too (capped).
    feedback_from = models.CharField(
        max_length=10,
        choices=[("staff", "Staff"), ("everyone", "Everyone")],
        default="staff",
    )
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retrain policies"

    def __str__(self):
        return f"retrain policy of {self.model_id}"


class ScopedAPIKey(AbstractAPIKey):
    """An API key (djangorestframework-api-key: stored hashed, shown once) that acts for the
    staff user who made it, but may only predict and read model metadata, only with its
    `model_names` when that list is given, and is never staff."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    model_names = models.JSONField(default=list, blank=True, help_text="Models; empty: all.")
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class SecurityEvent(models.Model):
    """The security audit trail: logins, failed logins, API keys made and revoked, and
    bursts of refused requests (401/403) from one client address."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        KEY_CREATED = "key_created", "API key created"
        KEY_REVOKED = "key_revoked", "API key revoked"
        DENIED_BURST = "denied_burst", "Burst of refused requests"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    username = models.CharField(max_length=150, blank=True)
    client = models.CharField(max_length=64, blank=True, help_text="The client's address.")
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"], name="security_kind_at")]

    def __str__(self):
        return f"{self.kind} {self.username or self.client} {self.created_at:%Y-%m-%d %H:%M}"


class ShadowFailure(models.Model):
    """How often a shadow version failed to predict the rows it was sent, and the last
    error: kept in the database so that every process's pages show it (the count in
    Prometheus is per process until scraped). Updated by the shadow service only."""

    version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="shadow_failure"
    )
    count = models.PositiveBigIntegerField(default=0, help_text="Failed shadow calls.")
    last_error = models.CharField(max_length=1000, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"shadow failures of {self.version_id}: {self.count}"
