"""Celery's door (TRAINING_BACKEND=celery): each task hands over to the services."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings

from predictor.services import jobs
from predictor.services.log import retention
from predictor.services.monitoring import alerts
from predictor.services.training import policies


@shared_task(bind=True, name="predictor.tasks.run_job")
def run_job(self, job_id: int) -> None:
    """Run one training job (acknowledged when it ends; over the soft time limit it ends
    failed, with that reason)."""
    jobs.jobs_reap_stale()
    try:
        jobs.job_execute(
            job_id=job_id, runner_id=f"celery:{self.request.hostname}:{self.request.id}"
        )
    except SoftTimeLimitExceeded:
        jobs.job_time_out(job_id=job_id, seconds=settings.JOB_MAX_SECONDS)


@shared_task(name="predictor.tasks.retrain_due")
def retrain_due() -> int:
    return len(policies.run_due())


@shared_task(name="predictor.tasks.monitor")
def monitor() -> int:
    return sum(1 for checked in alerts.monitor_all() if checked.alert)


@shared_task(name="predictor.tasks.reap_stale_jobs")
def reap_stale_jobs() -> int:
    return jobs.jobs_reap_stale()


@shared_task(name="predictor.tasks.prune_predictions")
def prune_predictions() -> int:
    if settings.PREDICTION_RETENTION_DAYS is None:
        return 0
    return retention.prune(older_than_days=settings.PREDICTION_RETENTION_DAYS).removed


@worker_ready.connect
def _reap_on_start(**kwargs):
    """A worker that starts ends the jobs a dead worker left running."""
    jobs.jobs_reap_stale()
