import io

import pandas as pd
import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from sklearn.datasets import load_iris

from predictor.api import auth
from predictor.services import apikeys
from predictor.services.demo import credit_risk_frame
from predictor.services.registry import artifacts
from predictor.services.registry.datasets import dataset_create
from predictor.services.serving import microbatch, registrycache
from predictor.services.training import train_now


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Artifacts and uploads go to a fresh folder; jobs run inline; caches start empty."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.TRAINING_BACKEND = "eager"
    settings.SHADOW_MODE = "inline"  # shadows run in the test's thread and transaction
    artifacts.cache_clear()
    registrycache.reset()
    microbatch.reset()
    auth.reset()
    apikeys.reset()
    cache.clear()
    yield
    artifacts.cache_clear()
    registrycache.reset()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def iris_frame() -> pd.DataFrame:
    bunch = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = pd.DataFrame(bunch.data, columns=names)
    frame["species"] = [str(bunch.target_names[i]) for i in bunch.target]
    return frame


@pytest.fixture
def iris_dataset(db):
    return dataset_create(name="iris", file=csv_bytes(iris_frame()), target="species")


@pytest.fixture
def credit_dataset(db):
    return dataset_create(name="credit", file=csv_bytes(credit_risk_frame(300)), target="risk")


@pytest.fixture
def diabetes_dataset(db):
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    frame["progression"] = bunch.target
    return dataset_create(name="diabetes", file=csv_bytes(frame), target="progression")


def train(dataset, model="iris", algorithm="logistic_regression", **kwargs):
    kwargs.setdefault("cv", 0)
    job = train_now(dataset=dataset, model_name=model, algorithm=algorithm, **kwargs)
    assert job.status == "succeeded", job.error
    return job.version


@pytest.fixture
def iris_version(iris_dataset):
    version = train(iris_dataset)
    model = version.model
    model.public = True
    model.save()
    return version


@pytest.fixture
def staff(django_user_model):
    """Staff in the "Model managers" group: reads and manages (test_manage_rule has staff
    without the group)."""
    user = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    user.groups.add(managers_group())
    return user


@pytest.fixture
def manager(django_user_model):
    """Another staff user of the "Model managers" group (not a superuser)."""
    user = django_user_model.objects.create_user("manager", password="pw-mgr-123", is_staff=True)
    user.groups.add(managers_group())
    return user


@pytest.fixture
def manager_client(client, manager):
    """A test client logged in as `manager`."""
    client.force_login(manager)
    return client


@pytest.fixture
def clerk(django_user_model):
    """Staff without the "Model managers" group: reads, never manages."""
    return django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)


def managers_group():
    """The "Model managers" group of migration 0002, made again after a transactional test
    emptied the tables (permissions come back by themselves, the group does not)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("predictor.migrations.0002_model_managers_group")
    group, made = Group.objects.get_or_create(name=migration.GROUP)
    if made:
        codenames = [f"{a}_{m}" for m, actions in migration.PERMISSIONS.items() for a in actions]
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="predictor", codename__in=codenames)
        )
    return group


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def staff_client(staff):
    return client_for(staff)


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


@pytest.fixture
def bob_client(bob):
    return client_for(bob)


def redis_on(settings, db_number: int):
    """The default cache on the Redis at 127.0.0.1:6379 (database `db_number`); the test is
    skipped when there is none, unless REQUIRE_SERVICES is set (CI), where that fails."""
    import os
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if os.environ.get("REQUIRE_SERVICES"):
            raise RuntimeError("REQUIRE_SERVICES is set but Redis on 127.0.0.1:6379 is down")
        pytest.skip("no Redis on 127.0.0.1:6379 (CI runs it: REQUIRE_SERVICES=1)")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:6379/{db_number}",
        }
    }
