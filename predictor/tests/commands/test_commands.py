import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from predictor.models import Dataset, ModelVersion, RegisteredModel, StageTransition

from ..conftest import csv_bytes, iris_frame

ROOT = Path(__file__).resolve().parents[3]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def registry_snapshot() -> dict:
    return {
        "datasets": sorted(Dataset.objects.values_list("name", "sha256")),
        "versions": sorted(
            ModelVersion.objects.values_list("model__name", "version", "stage", "sha256")
        ),
        "transitions": StageTransition.objects.count(),
    }


def test_load_demo_twice_gives_the_same_registry(db):
    run("load_demo")
    first = registry_snapshot()
    run("load_demo")
    second = registry_snapshot()
    assert first == second
    assert [n for n, *_ in first["versions"]] == [
        "breast-cancer",
        "credit-risk",
        "diabetes",
        "iris",
        "wine",
    ]
    iris = RegisteredModel.objects.get(name="iris")
    assert iris.public and iris.task == "classification"
    assert RegisteredModel.objects.get(name="diabetes").task == "regression"
    version = iris.versions.get()
    assert version.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert version.classes == ["setosa", "versicolor", "virginica"]
    credit = RegisteredModel.objects.get(name="credit-risk").versions.get()
    assert {f["type"] for f in credit.schema} == {"numeric", "categorical"}
    assert any(f["missing"] > 0 for f in credit.schema)


def test_import_dataset_and_train(db, tmp_path):
    path = tmp_path / "iris.csv"
    path.write_bytes(csv_bytes(iris_frame()))
    out = run("import_dataset", str(path), "--name", "flowers", "--target", "species")
    assert "150 rows" in out and "target 'species'" in out
    out = run(
        "train",
        "--dataset",
        "flowers",
        "--model",
        "flowers",
        "--algorithm",
        "random_forest",
        "--param",
        "n_estimators=20",
        "--param",
        "max_depth=3",
        "--cv",
        "3",
    )
    assert "model flowers version 1 (production)" in out
    assert "accuracy:" in out and "cv accuracy:" in out
    version = ModelVersion.objects.get(model__name="flowers")
    assert version.params["n_estimators"] == 20 and version.params["max_depth"] == 3


def test_command_errors_are_clear(db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    with pytest.raises(CommandError, match="empty"):
        run("import_dataset", str(bad), "--name", "bad")
    with pytest.raises(CommandError, match="no such file"):
        run("import_dataset", str(tmp_path / "missing.csv"), "--name", "x")
    with pytest.raises(CommandError, match="no dataset named 'nope'"):
        run("train", "--dataset", "nope", "--model", "m", "--algorithm", "knn")
    good = tmp_path / "iris.csv"
    good.write_bytes(csv_bytes(iris_frame()))
    run("import_dataset", str(good), "--name", "iris")
    with pytest.raises(CommandError, match="unknown parameter 'trees'"):
        run(
            "train",
            "--dataset",
            "iris",
            "--model",
            "m",
            "--algorithm",
            "random_forest",
            "--param",
            "trees=3",
        )
    with pytest.raises(CommandError, match="unknown algorithm"):
        run("train", "--dataset", "iris", "--model", "m", "--algorithm", "xgboost")
    assert not RegisteredModel.objects.exists()


def test_ensure_admin_creates_one_with_a_random_password(db, django_user_model):
    out = run("ensure_admin")
    admin = django_user_model.objects.get(username="admin")
    password = out.split("password '")[1].split("'")[0]
    assert admin.is_superuser and admin.check_password(password) and len(password) >= 16
    out = run("ensure_admin")
    assert "Log in as 'admin'" in out and django_user_model.objects.count() == 1


def _settings_import(env: dict) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DJANGO_SETTINGS_MODULE": "mlsite.settings"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])",
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_real_secret_key(tmp_path):
    # An empty .env-less environment: DJANGO_DEBUG unset means production mode.
    result = _settings_import({"DJANGO_SECRET_KEY": "", "DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is missing or too weak" in result.stderr
    weak = _settings_import({"DJANGO_SECRET_KEY": "django-insecure-abc", "DJANGO_DEBUG": "false"})
    assert weak.returncode != 0


def test_sqlite_is_set_up_for_concurrent_writers():
    result = _settings_import(
        {"DJANGO_SECRET_KEY": "x" * 40, "DATABASE_URL": "sqlite:////tmp/x.sqlite3"}
    )
    assert result.returncode == 0, result.stderr
    assert "'transaction_mode': 'IMMEDIATE'" in result.stdout
    assert "journal_mode=WAL" in result.stdout and "'timeout': 20" in result.stdout
