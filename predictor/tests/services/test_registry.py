import pytest
from django.db import IntegrityError, transaction

from predictor.models import ImmutableFieldError, ModelVersion, Stage, StageTransition
from predictor.services import registry
from predictor.services.errors import Conflict, InvalidInput, NotFound
from predictor.services.serving import routing

from ..conftest import train


def test_promote_to_production_archives_the_previous(iris_dataset, staff):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    registry.version_promote(version=v2, stage="production", user=staff, reason="better recall")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.stage, v2.stage) == (Stage.ARCHIVED, Stage.PRODUCTION)
    latest = StageTransition.objects.filter(version=v2).first()
    assert (latest.from_stage, latest.to_stage, latest.reason, latest.created_by) == (
        "none",
        "production",
        "better recall",
        staff,
    )
    archived = StageTransition.objects.filter(version=v1).first()
    assert archived.to_stage == "archived" and "replaced by version 2" in archived.reason


def test_rollback_restores_the_previous_production(iris_dataset, staff):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    registry.version_promote(version=v2, stage="production", user=staff, reason="try knn")
    restored = registry.version_rollback(model=v1.model, user=staff, reason="knn is worse")
    assert restored.pk == v1.pk
    assert ModelVersion.objects.get(stage=Stage.PRODUCTION).pk == v1.pk
    with pytest.raises(Conflict):
        registry.version_promote(version=v1, stage="production", user=staff)


def test_rollback_without_history(iris_version):
    with pytest.raises(Conflict, match="no earlier production version"):
        registry.version_rollback(model=iris_version.model)


def test_unknown_stage(iris_version):
    with pytest.raises(InvalidInput, match="unknown stage"):
        registry.version_promote(version=iris_version, stage="live")


def test_database_allows_one_production_version(iris_dataset):
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    v2.stage = Stage.PRODUCTION
    with pytest.raises(IntegrityError), transaction.atomic():
        v2.save(update_fields=["stage"])
    assert v1.stage == Stage.PRODUCTION


def test_database_refuses_a_duplicate_version_number(iris_version):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            model=iris_version.model,
            version=1,
            algorithm="x",
            target_name="species",
            artifact="a",
            sha256="0" * 64,
        )


def test_versions_are_immutable_but_stage_and_notes(iris_version):
    iris_version.notes = "checked by Ann"
    iris_version.save()
    iris_version.metrics = {"accuracy": 1.0}
    with pytest.raises(ImmutableFieldError, match="metrics"):
        iris_version.save()
    iris_version.refresh_from_db()
    assert iris_version.metrics["accuracy"] < 1.0 and iris_version.notes == "checked by Ann"


def test_resolve(iris_version):
    assert routing.version_resolve(model_name="iris").pk == iris_version.pk
    assert routing.version_resolve(model_name="iris", version="1").pk == iris_version.pk
    with pytest.raises(NotFound, match="no version 7"):
        routing.version_resolve(model_name="iris", version=7)
    with pytest.raises(NotFound, match="no model named"):
        routing.version_resolve(model_name="nope")
    registry.version_promote(version=iris_version, stage="archived", reason="retired")
    with pytest.raises(Conflict, match="no production version"):
        routing.version_resolve(model_name="iris")
