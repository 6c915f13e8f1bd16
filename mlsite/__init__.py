# Celery's app, so that `celery -A mlsite` and the job runner (TRAINING_BACKEND=celery) use
# the settings of mlsite/settings.py.
from mlsite.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
