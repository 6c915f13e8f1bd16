"""Django settings of the import sandbox's child process: no database, no secrets.

The child needs the app's models importable (the schema, runtime and conversion code name
them) and nothing else: no database connection, no cache, no key. Its secret key is made
fresh in the child and dies with it; the parent hands over only the request and the file.
"""

import secrets

from django.apps import AppConfig

SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
USE_TZ = True
DATABASES = {}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework_api_key",
    "mlsite.sandbox_settings.SandboxPredictorConfig",
]
ARTIFACT_ROOT = "/nonexistent"  # the child stores nothing
# Filled from the parent's request before anything is read from the file.
SKOPS_TRUSTED_TYPES_EXTRA: list[str] = []


class SandboxPredictorConfig(AppConfig):
    """The app's models without its start-up hooks (no signals, no job kinds, no caches)."""

    name = "predictor"
    label = "predictor"
    default_auto_field = "django.db.models.BigAutoField"
