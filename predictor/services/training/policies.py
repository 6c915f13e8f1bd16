"""Retrain policies: a model retrains by itself every N hours, when its production version
drifts (or is degraded), or when its live accuracy falls below a bound (regression: live
RMSE above it) — as measured on staff's feedback alone. `run_due` (from `manage.py retrain_due` in cron, or a periodic task) starts
one `retrain` job per due model — never while one of its jobs is queued or running.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from predictor.models import JobStatus, RegisteredModel, RetrainPolicy, Stage, Task, TrainingJob
from predictor.services import access, monitoring
from predictor.services.errors import InvalidInput
from predictor.services.monitoring import live as live_figures

FIELDS = (
    "every_hours",
    "on_drift",
    "on_live_below",
    "promote",
    "min_improvement",
    "include_feedback",
    "enabled",
)
FEEDBACK_FROM = ("staff", "everyone")


def policy_feedback_from(*, policy: RetrainPolicy) -> str:
    """Whose feedback the policy's retraining learns from ("staff" or "everyone")."""
    return policy.feedback_from or "staff"


def policy_get(*, model: RegisteredModel) -> RetrainPolicy:
    return RetrainPolicy.objects.filter(model=model).first() or RetrainPolicy(
        model=model, enabled=False
    )


def policy_set(*, model: RegisteredModel, user=None, **fields) -> RetrainPolicy:
    """Replace the model's policy. An enabled policy names at least one trigger."""
    values = {name: fields[name] for name in FIELDS if name in fields}
    feedback_from = fields.get("feedback_from", "staff")
    if feedback_from not in FEEDBACK_FROM:
        raise InvalidInput(
            f"'feedback_from' must be one of: {', '.join(FEEDBACK_FROM)}", field="feedback_from"
        )
    values["feedback_from"] = feedback_from
    enabled = values.get("enabled", True)
    if enabled and not (
        values.get("every_hours")
        or values.get("on_drift")
        or values.get("on_live_below") is not None
    ):
        raise InvalidInput(
            "an enabled policy needs a trigger: every_hours, on_drift or on_live_below",
            field="every_hours",
        )
    if model.task == Task.CLASSIFICATION and (values.get("on_live_below") or 0) > 1:
        raise InvalidInput("on_live_below is an accuracy between 0 and 1", field="on_live_below")
    defaults = {name: RetrainPolicy._meta.get_field(name).get_default() for name in FIELDS}
    actor = access.actor(user=user)
    policy, _ = RetrainPolicy.objects.update_or_create(
        model=model, defaults={**defaults, **values, "updated_by": actor}
    )
    return policy


def _busy(model: RegisteredModel) -> bool:
    return TrainingJob.objects.filter(
        model_name=model.name, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists()


def due_reason(*, policy: RetrainPolicy, now) -> str | None:
    """Why the policy's model should retrain now, or None."""
    if not policy.enabled:
        return None
    if policy.every_hours and (
        policy.last_run_at is None
        or now - policy.last_run_at >= timedelta(hours=policy.every_hours)
    ):
        return f"every {policy.every_hours} hours"
    if not (policy.on_drift or policy.on_live_below is not None):
        return None
    production = policy.model.versions.filter(stage=Stage.PRODUCTION).first()
    if production is None:
        return None
    report = monitoring.report(version=production)
    if policy.on_drift and report["status"] in (monitoring.DRIFT, monitoring.DEGRADED):
        return f"monitoring status {report['status']}"
    # Staff's feedback only: a user's false labels must not start a retrain.
    live = report["live_by_source"]["staff"]
    # Nor may a handful of labels: below LIVE_MIN_LABELS live figures judge nothing.
    if policy.on_live_below is not None and live_figures.enough_labels(live=live):
        if policy.model.task == Task.CLASSIFICATION and live["accuracy"] < policy.on_live_below:
            return f"live accuracy {live['accuracy']:.3f} below {policy.on_live_below:g}"
        if policy.model.task == Task.REGRESSION and live["rmse"] > policy.on_live_below:
            return f"live RMSE {live['rmse']:.4g} above {policy.on_live_below:g}"
    return None


def run_due(*, now=None) -> list[TrainingJob]:
    """Start one retrain job for every model whose policy is due and that has no job
    waiting or running; the jobs started."""
    from predictor.services.training.retrain import retrain_create  # scikit-learn, pandas

    now = now or timezone.now()
    started = []
    for policy_id in RetrainPolicy.objects.filter(enabled=True).values_list("pk", flat=True):
        with transaction.atomic():
            policy = (
                RetrainPolicy.objects.select_for_update(of=("self",))
                .select_related("model", "updated_by")
                .get(pk=policy_id)
            )
            if _busy(policy.model):
                continue
            reason = due_reason(policy=policy, now=now)
            if reason is None:
                continue
            policy.last_run_at = now
            policy.save(update_fields=["last_run_at"])
            started.append(
                retrain_create(
                    model=policy.model,
                    user=policy.updated_by,
                    include_feedback=policy.include_feedback,
                    feedback_from=policy_feedback_from(policy=policy),
                    promote=policy.promote,
                    min_improvement=policy.min_improvement,
                    reason=f"retrain policy: {reason}",
                    trigger=reason,
                )
            )
    return started
