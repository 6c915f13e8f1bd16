"""Registered models and versions: creation with safe numbering, stages and their audit."""

import platform
from importlib import metadata

from django.db import IntegrityError, transaction

from predictor.models import ModelVersion, RegisteredModel, Stage, StageTransition, Task
from predictor.services import access
from predictor.services.errors import Conflict, InvalidInput
from predictor.services.registry.artifacts import StoredArtifact
from predictor.services.registry.sensitive import model_sensitive_join, model_sensitive_set
from predictor.services.schema.changes import schema_change
from predictor.services.serving import registrycache, traffic


def library_versions() -> dict:
    """The installed versions (read from the packages' metadata: a server process that
    only serves compiled models does not import scikit-learn or pandas at all)."""
    return {
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("scikit-learn", "numpy", "pandas", "joblib")},
    }


def model_check_task(*, name: str, task: str) -> None:
    """A new version must have the task of the model it joins (if the model exists)."""
    if task not in Task.values:
        raise InvalidInput(
            f"unknown task {task!r}; use one of: {', '.join(Task.values)}", field="task"
        )
    existing = RegisteredModel.objects.filter(name=name).values_list("task", flat=True).first()
    if existing and existing != task:
        raise InvalidInput(
            f"model {name!r} is a {existing} model; this request is for {task}", field="task"
        )


def model_get_or_create(*, name: str, task: str, description: str = "") -> RegisteredModel:
    """The model called `name`, created if new; its task must match."""
    model_check_task(name=name, task=task)
    model, _ = RegisteredModel.objects.get_or_create(
        name=name, defaults={"task": task, "description": description}
    )
    return model


def version_create(
    *, model: RegisteredModel, stored: StoredArtifact, user=None, **fields
) -> ModelVersion:
    """Add the next version of a model, with its stored artifact and the library versions
    of this process; the first version goes straight to production. It follows the model's
    sensitive list, to which `sensitive` (a training request's) adds."""
    requested = fields.pop("sensitive", None) or []
    fields = {
        "artifact": stored.name,
        "artifact_format": stored.format,
        "sha256": stored.sha256,
        "size_bytes": stored.size_bytes,
        "library_versions": library_versions(),
        **fields,
    }
    for attempt in range(5):
        try:
            with transaction.atomic():
                # Lock the model row so concurrent creators take numbers one after another;
                # the unique constraint is the last word if the lock is not honoured.
                locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
                last = locked.versions.order_by("-version").values_list("version", flat=True)
                number = (last.first() or 0) + 1
                has_production = locked.versions.filter(stage=Stage.PRODUCTION).exists()
                stage = Stage.NONE if has_production else Stage.PRODUCTION
                actor = access.actor(user=user)
                listed = model_sensitive_join(
                    model=locked,
                    names=requested,
                    user=actor,
                    reason=f"named by the training request of version {number}",
                )
                version = ModelVersion.objects.create(
                    model=locked,
                    version=number,
                    stage=stage,
                    created_by=actor,
                    sensitive=listed,
                    **fields,
                )
                if stage == Stage.PRODUCTION:
                    StageTransition.objects.create(
                        version=version,
                        from_stage=Stage.NONE,
                        to_stage=Stage.PRODUCTION,
                        reason="first version of the model",
                        created_by=version.created_by,
                    )
                    registrycache.changed()
                RegisteredModel.objects.filter(pk=locked.pk).update(updated_at=version.created_at)
                return version
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def version_promote(
    *,
    version: ModelVersion,
    stage: str,
    user=None,
    reason: str = "",
    confirm_schema_change: bool = False,
) -> ModelVersion:
    """Move a version to a stage; promoting to production archives the previous one. A
    version whose input features differ from production's needs `confirm_schema_change`
    (its clients' rows would be refused otherwise, unannounced)."""
    if stage not in Stage.values:
        raise InvalidInput(
            f"unknown stage {stage!r}; use one of: {', '.join(Stage.values)}", field="stage"
        )
    reason = (reason or "").strip()
    actor = access.actor(user=user)
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().get(pk=version.model_id)
        current = ModelVersion.objects.get(pk=version.pk)
        if current.stage == stage:
            raise Conflict(f"{current} is already in stage {stage!r}")
        if stage == Stage.PRODUCTION:
            previous = ModelVersion.objects.filter(
                model_id=current.model_id, stage=Stage.PRODUCTION
            ).first()
            if previous is not None and not confirm_schema_change:
                schema_change_check(version=current, production=previous)
            if previous is not None:
                previous.stage = Stage.ARCHIVED
                previous.save(update_fields=["stage"])
                traffic.on_version_archived(version=previous, user=actor)
                StageTransition.objects.create(
                    version=previous,
                    from_stage=Stage.PRODUCTION,
                    to_stage=Stage.ARCHIVED,
                    reason=f"replaced by version {current.version}"
                    + (f": {reason}" if reason else ""),
                    created_by=actor,
                )
        from_stage = current.stage
        current.stage = stage
        current.save(update_fields=["stage"])
        if stage == Stage.ARCHIVED:
            traffic.on_version_archived(version=current, user=actor)
        StageTransition.objects.create(
            version=current, from_stage=from_stage, to_stage=stage, reason=reason, created_by=actor
        )
        registrycache.changed()
    version.stage = stage
    return current


def schema_change_check(*, version: ModelVersion, production: ModelVersion) -> None:
    """InvalidInput naming the differences when `version` takes other inputs than
    `production` (the confirmation a promotion then needs)."""
    change = schema_change(old=production.schema, new=version.schema)
    if change:
        raise InvalidInput(
            f"v{version.version} takes other inputs than production v{production.version} "
            f"({change.words()}): clients sending v{production.version}'s rows would be "
            "refused; confirm the schema change to promote it",
            field="confirm_schema_change",
            schema_change=change.as_dict(),
        )


def production_schema_change(*, version: ModelVersion) -> dict | None:
    """How `version`'s inputs differ from its model's production version's (None: the same,
    or no other production version)."""
    production = (
        ModelVersion.objects.filter(model_id=version.model_id, stage=Stage.PRODUCTION)
        .exclude(pk=version.pk)
        .first()
    )
    if production is None:
        return None
    change = schema_change(old=production.schema, new=version.schema)
    if not change:
        return None
    return {**change.as_dict(), "production": production.version, "words": change.words()}


def version_change(
    *,
    version: ModelVersion,
    sensitive: list | None = None,
    notes: str | None = None,
    user=None,
    reason: str = "",
) -> ModelVersion:
    """Change what may change on a version: its notes, and — another way to change the
    model's list, recorded like any change of it — the sensitive features (logged encrypted
    from the next prediction on; rows logged before stay as they were)."""
    if sensitive is not None:
        model_sensitive_set(
            model=version.model,
            sensitive=sensitive,
            user=user,
            reason=reason or f"changed on version {version.version}",
        )
        version.sensitive = version.model.sensitive
    fields = []
    if notes is not None:
        version.notes = notes
        fields.append("notes")
    if fields:
        version.save(update_fields=fields)
        registrycache.changed()
    return version


def version_rollback(*, model: RegisteredModel, user=None, reason: str = "") -> ModelVersion:
    """Make the version that was production before the current one production again."""
    current = ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).first()
    earlier = (
        StageTransition.objects.filter(version__model=model, to_stage=Stage.PRODUCTION)
        .exclude(version=current)
        .select_related("version")
        .order_by("-created_at", "-id")
        .first()
    )
    if earlier is None:
        raise Conflict(f"model {model.name!r} has no earlier production version to roll back to")
    # Back to what clients sent before: a rollback is never held up by the schema.
    return version_promote(
        version=earlier.version,
        stage=Stage.PRODUCTION,
        user=user,
        reason=reason or "rollback",
        confirm_schema_change=True,
    )


def version_audit_record(*, version: ModelVersion, audit: dict) -> None:
    """Record an imported version's latest sandbox audit; servers re-read it within a second."""
    with transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(audit=audit)
    registrycache.changed()
    version.audit = audit
