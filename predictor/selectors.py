"""Read queries shared by the API, the pages and the admin."""

from collections import Counter, defaultdict

from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from predictor.models import (
    Dataset,
    JobKind,
    ModelVersion,
    Prediction,
    RegisteredModel,
    Stage,
    Task,
    TrafficChange,
    TrainingJob,
)
from predictor.services import access
from predictor.services.errors import NotFound
from predictor.services.log import aggregates, windows
from predictor.services.schema import OUTPUT, bin_label
from predictor.services.serving import routing


def models_annotated():
    """All registered models, each annotated with its production version number
    (`production_version`)."""
    production = ModelVersion.objects.filter(model=OuterRef("pk"), stage=Stage.PRODUCTION)
    return RegisteredModel.objects.annotate(
        production_version=Subquery(production.values("version")[:1]),
    )


def models_visible_to(user):
    """Registered models the user may use, each annotated with its production version."""
    return access.models_usable(user=user, queryset=models_annotated()).order_by("name")


def model_usable(*, name: str, user) -> RegisteredModel:
    """One model the user may use (NotFound, LoginRequired otherwise), annotated with its
    production version number."""
    routing.model_get(name=name, user=user)
    return models_annotated().get(name=name)


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


def jobs_seen(*, user):
    """The jobs a person may see (access.job_check_see): every job for staff, else their own
    batch-scoring jobs; newest first."""
    qs = training_jobs().select_related("created_by")
    if access.is_staff(user=user):
        return qs
    return qs.filter(kind=JobKind.SCORING, created_by_id=user.pk)


def traffic_changes(model):
    """A model's traffic policy changes, newest first."""
    return TrafficChange.objects.filter(model=model).select_related("created_by")


def versions_for_check(*, include_archived: bool = False) -> list[ModelVersion]:
    """Versions whose artifacts an operator checks (archived ones only when asked)."""
    qs = ModelVersion.objects.select_related("model").order_by("model__name", "version")
    return list(qs if include_archived else qs.exclude(stage=Stage.ARCHIVED))


def versions_without_runtime() -> list[ModelVersion]:
    """Versions whose compiled runtime was never built (made before it existed)."""
    qs = ModelVersion.objects.filter(runtime="").select_related("model", "dataset")
    return list(qs.order_by("model__name", "version"))


def predictions_visible_to(user, *, also=()):
    """The predictions the user may see (`also`: ids this browser session made), with the
    model's name, the version's number and the user's name joined in (and nothing else of
    them: a version's schema and reference statistics are large, and a page has 50 rows)."""
    qs = Prediction.objects.select_related("model", "version", "user").only(
        *[f.name for f in Prediction._meta.concrete_fields],
        "model__name",
        "model__task",
        "version__version",
        "version__model_id",
        "user__username",
    )
    return access.predictions_visible(user=user, queryset=qs, also=also)


def prediction_get(*, pk, user, also=()) -> Prediction:
    """A prediction the user may see, else NotFound (the same for missing and not theirs)."""
    try:
        return predictions_visible_to(user, also=also).get(pk=int(pk))
    except (Prediction.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(f"no prediction {pk}") from None


def model_ids(name: str) -> list[int]:
    """Ids of the model named so (none or one): the log is filtered by id, on its index."""
    return list(RegisteredModel.objects.filter(name=name).values_list("id", flat=True))


def version_ids(number: int, *, model: str | None = None) -> list[int]:
    qs = ModelVersion.objects.filter(version=number)
    if model:
        qs = qs.filter(model__name=model)
    return list(qs.values_list("id", flat=True))


def model_feature_names(name: str) -> list[str]:
    """Every feature of a model's versions, in schema order, older versions' extras last."""
    names = []
    for schema in (
        ModelVersion.objects.filter(model__name=name)
        .order_by("-version")
        .values_list("schema", flat=True)
    ):
        names += [f["name"] for f in schema if f["name"] not in names]
    return names


def prediction_charts(user, filters: dict, *, days: int = 30) -> dict:
    """Predictions per day and each model's predicted classes (regression: values on its
    training bins) over the last `days` days of the filtered history: whole hours from the
    hourly aggregates, the window's ends from the rows. Its cost does not grow with the log."""
    until = filters.get("until") or timezone.now()
    since = until - timezone.timedelta(days=days)
    if filters.get("since") and filters["since"] > since:
        since = filters["since"]
    scope = windows.Scope(
        model_ids=tuple(model_ids(filters["model"])) if filters.get("model") else None,
        version_ids=tuple(version_ids(filters["version"], model=filters.get("model")))
        if filters.get("version")
        else None,
        source=filters.get("source") or None,
        user_id=None if access.is_staff(user=user) else user.pk,
    )
    span = windows.window(scope=scope, since=since, until=until)
    per_day = Counter()
    for day, n in (
        span.hours.annotate(day=TruncDate("hour"))
        .values_list("day")
        .annotate(n=Sum("predictions"))
        .order_by()
    ):
        per_day[day] += n
    for day, n in (
        span.rows.annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        per_day[day] += n

    counted = defaultdict(Counter)  # (model id, version id) → counts of outputs
    for model_id, version_id, outputs in span.hours.values_list(
        "model_id", "version_id", "outputs"
    ):
        counted[(model_id, version_id)].update(outputs)
    partial = span.rows.values_list("model_id", "version_id", "output").annotate(n=Count("id"))
    raw = defaultdict(list)
    for model_id, version_id, output, n in partial.order_by():
        raw[(model_id, version_id)].append((output, n))
    versions = {
        v.pk: v
        for v in ModelVersion.objects.filter(
            pk__in={k[1] for k in [*counted, *raw]}
        ).select_related("model")
    }
    for key, pairs in raw.items():
        version = versions[key[1]]
        for output, n in pairs:
            counts, _, _ = aggregates.output_counts(version=version, outputs=[output])
            for label in counts:
                counted[key][label] += n
    by_model = defaultdict(lambda: {"counts": Counter()})
    for (model_id, version_id), counts in counted.items():
        version = versions[version_id]
        entry = by_model[model_id]
        entry["name"] = version.model.name
        regression = version.model.task == Task.REGRESSION
        entry["kind"] = "values" if regression else "classes"
        edges = (version.reference_stats or {}).get(OUTPUT, {}).get("edges", [])
        for key, n in counts.items():
            entry["counts"][bin_label(key, edges) if regression else key] += n
    models = []
    for entry in sorted(by_model.values(), key=lambda e: e["name"]):
        bars = [{"label": k, "value": v} for k, v in entry["counts"].most_common(12)]
        models.append({"name": entry["name"], "kind": entry["kind"], "bars": bars})
    return {
        "since": since,
        "until": until,
        "per_day": [{"label": day.isoformat(), "value": n} for day, n in sorted(per_day.items())],
        "models": models,
        "total": sum(per_day.values()),
    }
