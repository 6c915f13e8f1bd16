"""A version's immutable fields are refused by the database itself, not only by save()."""

import pytest
from django.db import DatabaseError, connection, transaction

from predictor.models import ModelVersion, Stage


@pytest.mark.parametrize(
    "field, value",
    [
        ("algorithm", "knn"),
        ("sha256", "0" * 64),
        ("artifact", "other.joblib"),
        ("params", {"C": 2}),
        ("schema", []),
        ("version", 99),
    ],
)
def test_update_of_a_protected_field_fails_in_the_database(iris_version, field, value):
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        ModelVersion.objects.filter(pk=iris_version.pk).update(**{field: value})
    iris_version.refresh_from_db()
    assert getattr(iris_version, field) != value


def test_raw_sql_is_refused_too(iris_version):
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE predictor_modelversion SET algorithm = 'x' WHERE id = %s", [iris_version.pk]
            )


def test_what_may_change_does(iris_version):
    versions = ModelVersion.objects.filter(pk=iris_version.pk)
    versions.update(stage=Stage.ARCHIVED, notes="old", sensitive=["petal_width"])
    iris_version.refresh_from_db()
    assert (iris_version.stage, iris_version.notes) == (Stage.ARCHIVED, "old")
    # The compiled runtime is set once (when it is built, see test_compiled): never again.
    for field in ("runtime", "compiled_sha256", "compiled_artifact"):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            versions.update(**{field: "other"})
    iris_version.save()  # a full save that changes nothing passes


def test_fields_added_since_are_fixed_too_and_the_audit_may_change(iris_version):
    """Migrations that add columns rebuild the table on SQLite: the trigger is still there
    and covers the new fixed fields (0019), while a later audit may be recorded."""
    versions = ModelVersion.objects.filter(pk=iris_version.pk)
    for field, value in (("importance", [{"label": "x"}]), ("feedback_from", {"staff": 9})):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            versions.update(**{field: value})
    versions.update(audit={"status": "refused", "reason": "a later audit"})
    iris_version.refresh_from_db()
    assert iris_version.audit["status"] == "refused"
