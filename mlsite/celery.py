"""The Celery application (TRAINING_BACKEND=celery): `celery -A mlsite worker`, and
`celery -A mlsite beat` for the periodic tasks (retrain_due, monitor, pruning, reaping
jobs whose worker died). Settings come from Django's, prefixed CELERY_."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlsite.settings")

app = Celery("mlsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["predictor"])
