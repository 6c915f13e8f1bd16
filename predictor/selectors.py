"""Read queries shared by the API, the pages and the admin."""

from collections import Counter

import numpy as np
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from predictor.models import Dataset, ModelVersion, Prediction, RegisteredModel, Stage, TrainingJob
from predictor.services import access
from predictor.services.errors import NotFound
from predictor.services.serving import routing


def models_with_production():
    """All registered models, each annotated with its production version number."""
    production = ModelVersion.objects.filter(model=OuterRef("pk"), stage=Stage.PRODUCTION)
    return RegisteredModel.objects.annotate(
        production_version=Subquery(production.values("version")[:1]),
    )


def models_visible_to(user):
    """Registered models the user may use, each annotated with its production version."""
    return access.models_usable(user, models_with_production()).order_by("name")


def model_with_production(*, name: str, user) -> RegisteredModel:
    """One model the user may use, annotated with its production version number."""
    routing.model_get(name=name, user=user)
    return models_with_production().get(name=name)


def production_versions(models) -> dict[int, ModelVersion]:
    """model id → its production version, for a list of models."""
    qs = ModelVersion.objects.filter(model__in=models, stage=Stage.PRODUCTION)
    return {v.model_id: v for v in qs.only("model_id", "metrics", "version", "algorithm")}


def model_versions(model: RegisteredModel):
    """A model's versions, newest first, with what their API representation reads."""
    return (
        ModelVersion.objects.filter(model=model)
        .select_related("model", "created_by", "training_job", "dataset")
        .order_by("-version")
    )


def datasets():
    """Every dataset, newest first (staff)."""
    return Dataset.objects.select_related("created_by")


def training_jobs():
    """Every job, newest first, with the version it made (staff)."""
    return TrainingJob.objects.select_related("version", "version__model", "dataset")


def versions_for_check(*, include_archived: bool = False) -> list[ModelVersion]:
    """Versions whose artifacts an operator checks (archived ones only when asked)."""
    qs = ModelVersion.objects.select_related("model").order_by("model__name", "version")
    return list(qs if include_archived else qs.exclude(stage=Stage.ARCHIVED))


def versions_without_runtime() -> list[ModelVersion]:
    """Versions whose compiled runtime was never built (made before it existed)."""
    qs = ModelVersion.objects.filter(runtime="").select_related("model", "dataset")
    return list(qs.order_by("model__name", "version"))


def predictions_visible_to(user, *, also=()):
    """The predictions the user may see (`also`: ids this browser session made)."""
    qs = Prediction.objects.select_related("model", "version", "version__model", "user")
    return access.predictions_visible(user, qs, also=also)


def prediction_get(*, pk, user, also=()) -> Prediction:
    """A prediction the user may see, else NotFound (the same for missing and not theirs)."""
    try:
        return predictions_visible_to(user, also=also).get(pk=int(pk))
    except (Prediction.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(f"no prediction {pk}") from None


def prediction_charts(queryset, *, days: int = 30) -> dict:
    """Predictions per day and the distribution of predicted values, for the history page."""
    since = timezone.now() - timezone.timedelta(days=days)
    per_day = list(
        queryset.filter(created_at__gte=since)
        .order_by()
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    peak = max((d["n"] for d in per_day), default=0) or 1
    per_day = [
        {"label": d["day"].isoformat(), "value": d["n"], "pct": 100 * d["n"] / peak}
        for d in per_day
    ]

    outputs = list(queryset.order_by().values_list("output", flat=True)[:5000])
    numbers = [o for o in outputs if isinstance(o, (int, float)) and not isinstance(o, bool)]
    if (
        outputs
        and len(numbers) == len(outputs)
        and len({type(o) for o in outputs}) == 1
        and isinstance(outputs[0], float)
    ):
        counts, edges = np.histogram(numbers, bins=10)
        dist = [
            {"label": f"{edges[i]:.4g} – {edges[i + 1]:.4g}", "value": int(c)}
            for i, c in enumerate(counts)
        ]
        kind = "values"
    else:
        dist = [
            {"label": str(k), "value": v} for k, v in Counter(map(str, outputs)).most_common(12)
        ]
        kind = "classes"
    top = max((d["value"] for d in dist), default=0) or 1
    for d in dist:
        d["pct"] = 100 * d["value"] / top
    return {
        "per_day": per_day,
        "distribution": dist,
        "distribution_kind": kind,
        "sampled": len(outputs),
    }
