"""Read queries shared by the API, the pages and the admin."""

from collections import Counter

import numpy as np
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, RegisteredModel, Stage


def models_with_production():
    """All registered models, each annotated with its production version number."""
    production = ModelVersion.objects.filter(model=OuterRef("pk"), stage=Stage.PRODUCTION)
    return RegisteredModel.objects.annotate(
        production_version=Subquery(production.values("version")[:1]),
    )


def models_visible_to(user):
    """Registered models the user may use, each annotated with its production version."""
    qs = models_with_production()
    if not getattr(user, "is_authenticated", False):
        qs = qs.filter(public=True)
    return qs.order_by("name")


def model_may_use(*, user, model: RegisteredModel) -> bool:
    return model.public or getattr(user, "is_authenticated", False)


def versions_for_check(*, include_archived: bool = False) -> list[ModelVersion]:
    """Versions whose artifacts an operator checks (archived ones only when asked)."""
    qs = ModelVersion.objects.select_related("model").order_by("model__name", "version")
    return list(qs if include_archived else qs.exclude(stage=Stage.ARCHIVED))


def predictions_visible_to(user):
    qs = Prediction.objects.select_related("model", "version", "user")
    if getattr(user, "is_staff", False):
        return qs
    return qs.filter(Q(user_id=getattr(user, "pk", None) or -1))


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
