"""THE rule of who may see, use and manage models, versions and predictions.

- Anyone, even anonymous, may use a public model; any logged-in user may use any model.
- A version in stage `archived` or `none`, named explicitly, serves staff only; to anyone
  else it does not exist (the same 404 as a missing version).
- A prediction is seen by its owner (or, for an anonymous visitor, the ones made in this
  browser session) and by staff.
- Staff read what is staff's (everybody's history, monitoring, compare, traffic, policies).
- Managing — every write: datasets, training, retraining, stages, archive, imports,
  traffic, retrain policies, sensitive lists, API keys — needs the model permissions that
  the "Model managers" group holds (superusers hold all), in every door (`manage_check`);
  managers may also keep more jobs queued (`services.jobs`).

Every door asks here; none decides it on its own.
"""

from django.db.models import Q, QuerySet

from predictor.models import JobKind, ModelVersion, RegisteredModel, Source, Stage
from predictor.services.errors import Forbidden, LoginRequired, NotFound

STAFF_ONLY_STAGES = (Stage.ARCHIVED, Stage.NONE)
# What the "Model managers" group holds to train and to change versions (migration 0002).
MANAGER_PERMISSIONS = ("predictor.add_trainingjob", "predictor.change_modelversion")


def is_authenticated(*, user) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def is_staff(*, user) -> bool:
    """Staff for the rules of this module (an API key never is; see `api.auth`)."""
    return is_authenticated(user=user) and bool(getattr(user, "is_staff", False))


def is_manager(*, user) -> bool:
    """Staff holding the model-manager permissions (the "Model managers" group; superusers
    hold all). An API key never is (it is never staff)."""
    return is_staff(user=user) and (
        bool(getattr(user, "is_superuser", False)) or user.has_perms(MANAGER_PERMISSIONS)
    )


def actor(*, user):
    """The user a request acts as, for the records (`created_by`, `changed_by`, …): None for
    an anonymous visitor."""
    return user if is_authenticated(user=user) else None


def staff_check(*, user, what: str = "this page") -> None:
    """THE rule for reading what is staff's: LoginRequired (401) for a visitor, Forbidden
    (403) for anyone but staff."""
    if not is_authenticated(user=user):
        raise LoginRequired(f"log in to see {what}")
    if not is_staff(user=user):
        raise Forbidden(f"{what} is for staff")


def manage_check(*, user) -> None:
    """THE rule for managing: LoginRequired (401) for a visitor, Forbidden (403) for anyone
    but a manager."""
    if not is_authenticated(user=user):
        raise LoginRequired("log in to manage models")
    if not is_manager(user=user):
        raise Forbidden(
            "managing models (datasets, training, stages, traffic, policies, sensitive "
            'features, imports, API keys) needs the "Model managers" permissions'
        )


def model_may_use(*, user, model: RegisteredModel) -> bool:
    return model.public or is_authenticated(user=user)


def model_check_use(*, user, model: RegisteredModel) -> None:
    """LoginRequired (401) unless the user may use the model."""
    if not model_may_use(user=user, model=model):
        raise LoginRequired(f"model {model.name!r} is not public: log in to use it")


def version_may_serve(*, user, version: ModelVersion) -> bool:
    """Whether the version, named explicitly, serves this user (the stage rule)."""
    return version.stage not in STAFF_ONLY_STAGES or is_staff(user=user)


def version_check_serve(*, user, version: ModelVersion) -> None:
    """The model's use rule, then the stage rule (NotFound, as for a missing version)."""
    model_check_use(user=user, model=version.model)
    if not version_may_serve(user=user, version=version):
        raise NotFound(f"model {version.model.name!r} has no version {version.version}")


def models_usable(*, user, queryset: QuerySet) -> QuerySet:
    """The models of `queryset` the user may use (an API key: only its models, if listed)."""
    limited = getattr(user, "api_key_models", None)
    if limited:
        return queryset.filter(name__in=limited)
    return queryset if is_authenticated(user=user) else queryset.filter(public=True)


def predictions_visible(*, user, queryset: QuerySet, also=()) -> QuerySet:
    """The predictions of `queryset` the user may see (`also`: ids of this browser session)."""
    if is_staff(user=user):
        return queryset
    # Shadow versions' rows are staff business: their answers were never shown to anyone.
    queryset = queryset.exclude(source=Source.SHADOW)
    mine = Q(user_id=user.pk) if is_authenticated(user=user) else Q(pk__in=[])
    also = [pk for pk in also if isinstance(pk, int)]
    return queryset.filter(mine | Q(pk__in=also)) if also else queryset.filter(mine)


def may_decrypt(*, user) -> bool:
    """Whether sealed (sensitive) values are unsealed for this caller on asking: staff only;
    everyone else keeps "***"."""
    return is_staff(user=user)


# --- jobs ------------------------------------------------------------------------------------
# Job pages are staff's (training, retraining, everybody's batch scoring), except that a
# person sees, and may cancel, their own batch-scoring jobs; cancelling any other job is
# managing.


def _own_scoring_job(user, job) -> bool:
    return (
        job is not None
        and is_authenticated(user=user)
        and job.kind == JobKind.SCORING
        and job.created_by_id == user.pk
    )


def job_check_see(*, user, job) -> None:
    """LoginRequired / Forbidden unless the user may see the job (None: a missing job, which
    only staff learn is missing)."""
    if not is_authenticated(user=user):
        raise LoginRequired("log in to see jobs")
    if not (is_staff(user=user) or _own_scoring_job(user, job)):
        raise Forbidden("job pages are for staff, or for your own batch files")


def job_check_cancel(*, user, job) -> None:
    """Anyone may cancel their own batch-scoring job; any other job needs a manager."""
    if not _own_scoring_job(user, job):
        manage_check(user=user)


# --- what of a version a caller may see -------------------------------------------------------
# Non-staff callers (users, API keys, anonymous visitors of public models) see a version's
# feature names, types and allowed values, never its reference statistics, and no training
# figure (range, mean, spread) of a feature the model lists as sensitive.

SENSITIVE_SHOWN_KEYS = ("name", "type", "nullable", "categories")


def sees_training_figures(*, user) -> bool:
    """Staff see reference statistics and the training figures of sensitive features."""
    return is_staff(user=user)


def version_schema_shown(*, version: ModelVersion, user) -> list[dict]:
    """The version's schema for this caller: sensitive features marked `"sensitive": true`,
    and for non-staff stripped to their name, type and allowed values."""
    marked = set(version.model.sensitive or [])
    staff = sees_training_figures(user=user)
    shown = []
    for feature in version.schema:
        if feature["name"] in marked:
            kept = (
                feature
                if staff
                else {k: v for k, v in feature.items() if k in SENSITIVE_SHOWN_KEYS}
            )
            feature = {**kept, "sensitive": True}
        shown.append(feature)
    return shown


def version_warnings_shown(*, version: ModelVersion, user, warnings: list) -> list:
    """Out-of-range warnings for this caller: none about a sensitive feature for non-staff
    (its training range is not theirs to learn)."""
    marked = set(version.model.sensitive or [])
    if not marked or sees_training_figures(user=user):
        return warnings
    return [[w for w in row if w["feature"] not in marked] for row in warnings]
