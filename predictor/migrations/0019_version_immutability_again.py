"""The immutability trigger of 0012 again, with the fields versions gained since.

On SQLite, adding columns to a table (0016, 0017) rebuilds it, and a rebuilt table has lost
its triggers: this puts the trigger back (on PostgreSQL it replaces the function). New
fixed fields: `importance` (an imported version's explanation) and `feedback_from` (whose
feedback trained it). `audit` may change: `check_artifacts` records a later audit.
"""

import importlib

from django.db import migrations

first = importlib.import_module("predictor.migrations.0012_version_immutability_trigger")
FIXED = [*first.FIXED, "importance", "feedback_from"]


def _changed(distinct: str) -> str:
    parts = [f"NEW.{c} {distinct} OLD.{c}" for c in FIXED]
    parts += [f"(OLD.{c} <> '' AND NEW.{c} {distinct} OLD.{c})" for c in first.ONCE]
    parts += [f"(NEW.{c} IS NOT NULL AND NEW.{c} {distinct} OLD.{c})" for c in first.NULLABLE]
    return " OR ".join(parts)


PG_CREATE = f"""
CREATE OR REPLACE FUNCTION mlsite_version_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF {_changed("IS DISTINCT FROM")} THEN
    RAISE EXCEPTION '{first.MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS mlsite_version_immutable ON predictor_modelversion;
CREATE TRIGGER mlsite_version_immutable BEFORE UPDATE ON predictor_modelversion
FOR EACH ROW EXECUTE FUNCTION mlsite_version_immutable();
"""
SQLITE_CREATE = f"""
CREATE TRIGGER mlsite_version_immutable BEFORE UPDATE ON predictor_modelversion
WHEN {_changed("IS NOT")}
BEGIN SELECT RAISE(ABORT, '{first.MESSAGE}'); END;
"""


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        schema_editor.execute(first.SQLITE_DROP)
        schema_editor.execute(SQLITE_CREATE)


def back(apps, schema_editor):
    first.drop(apps, schema_editor)
    first.create(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("predictor", "0018_retrain_policy_feedback_from")]

    operations = [migrations.RunPython(create, back)]
