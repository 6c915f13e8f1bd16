"""A registered model's sensitive features, and what of a version a caller may see.

The list belongs to the model (`RegisteredModel.sensitive`): every version, shadow, retrain
and import of it seals those values in the log and keeps only coarse bins of them in its
reference statistics. It changes only through `model_sensitive_set` (the API, the version
PATCH, the admin) and `model_sensitive_join` (a training request that names some), each
change recorded with who, when and why in `SensitiveChange`. `ModelVersion.sensitive` is
kept equal to it for readers of a single version.

What of a version non-staff may see is `access`'s rule (`version_schema_shown`).
"""

from django.db import transaction

from predictor.models import ModelVersion, RegisteredModel, SensitiveChange
from predictor.services import access
from predictor.services.schema import sensitive_check
from predictor.services.serving import registrycache


def model_features(*, model: RegisteredModel) -> list[str]:
    """The input features of every version of the model (first seen first)."""
    names: dict[str, None] = {}
    for schema in model.versions.order_by("version").values_list("schema", flat=True):
        names.update(dict.fromkeys(f["name"] for f in schema))
    return list(names)


def _record(*, model: RegisteredModel, old: list, new: list, user, reason: str) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(sensitive=new)
    ModelVersion.objects.filter(model_id=model.pk).update(sensitive=new)
    SensitiveChange.objects.create(
        model=model,
        old=old,
        new=new,
        reason=(reason or "").strip()[:2000],
        created_by=access.actor(user=user),
    )
    registrycache.changed()  # serving processes seal with the new list within a second
    model.sensitive = new


def model_sensitive_set(
    *, model: RegisteredModel, sensitive: list, user=None, reason: str = ""
) -> RegisteredModel:
    """Replace the model's sensitive list (each name a feature of the model; InvalidInput
    naming the first that is not); a change is recorded, no change records nothing."""
    names = sensitive_check(names=sensitive, features=model_features(model=model))
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        old = list(locked.sensitive or [])
        if set(old) != set(names):
            _record(model=locked, old=old, new=names, user=user, reason=reason)
    model.sensitive = names
    return model


def model_sensitive_join(
    *, model: RegisteredModel, names: list, user=None, reason: str = ""
) -> list[str]:
    """Add names to the model's list (a training request's `sensitive`: it may add, never
    remove); called inside the caller's transaction with the model row locked. Returns the
    model's list."""
    old = list(model.sensitive or [])
    new = old + [n for n in names if n not in old]
    if new != old:
        _record(model=model, old=old, new=new, user=user, reason=reason)
    return new


def sensitive_names(*, model_name: str, features: list[str]) -> list[str]:
    """The model's sensitive features among `features` (none for a model not made yet)."""
    listed = RegisteredModel.objects.filter(name=model_name).values_list("sensitive", flat=True)
    marked = set(listed.first() or [])
    return [n for n in features if n in marked]
