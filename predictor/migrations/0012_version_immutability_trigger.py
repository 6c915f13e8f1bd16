"""The database refuses changes to a model version's immutable fields, whatever the client
(ORM update(), raw SQL, another program): a trigger on PostgreSQL and on SQLite.

Free to change: stage, notes, sensitive. Set once (from empty): runtime, runtime_note,
compiled_artifact, compiled_sha256. May become NULL (their row was deleted): dataset,
parent, created_by. Everything else never changes.
"""

from django.db import migrations

FIXED = [
    "model_id",
    "version",
    "algorithm",
    "params",
    "schema",
    "target_name",
    "classes",
    "metrics",
    "artifact",
    "artifact_format",
    "sha256",
    "size_bytes",
    "library_versions",
    "reference_stats",
    "feedback_rows",
    "created_at",
]
ONCE = ["runtime", "runtime_note", "compiled_artifact", "compiled_sha256"]
NULLABLE = ["dataset_id", "parent_id", "created_by_id"]
MESSAGE = "a model version is immutable: only its stage, notes and sensitive features change"


def _changed(distinct: str) -> str:
    """SQL that is true when NEW differs from OLD where it may not."""
    parts = [f"NEW.{c} {distinct} OLD.{c}" for c in FIXED]
    parts += [f"(OLD.{c} <> '' AND NEW.{c} {distinct} OLD.{c})" for c in ONCE]
    parts += [f"(NEW.{c} IS NOT NULL AND NEW.{c} {distinct} OLD.{c})" for c in NULLABLE]
    return " OR ".join(parts)


PG_CREATE = f"""
CREATE OR REPLACE FUNCTION mlsite_version_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF {_changed("IS DISTINCT FROM")} THEN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS mlsite_version_immutable ON predictor_modelversion;
CREATE TRIGGER mlsite_version_immutable BEFORE UPDATE ON predictor_modelversion
FOR EACH ROW EXECUTE FUNCTION mlsite_version_immutable();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS mlsite_version_immutable ON predictor_modelversion;
DROP FUNCTION IF EXISTS mlsite_version_immutable();
"""
SQLITE_CREATE = f"""
CREATE TRIGGER IF NOT EXISTS mlsite_version_immutable BEFORE UPDATE ON predictor_modelversion
WHEN {_changed("IS NOT")}
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS mlsite_version_immutable;"


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("predictor", "0011_batch_jobs")]
    operations = [migrations.RunPython(create, drop)]
