"""Where jobs run, and how a job row goes from queued to its end.

A job's kind (`train`, later `retrain`, `batch`) names a function that its own module
registers with `job_kind`; the runner looks it up by name and never imports those modules,
which enqueue through `job_enqueue`. One small runner interface, so another runner
(Celery, a worker process) can replace the thread.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.signals import request_started
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from predictor.models import JobStatus, TrainingJob
from predictor.services import metrics
from predictor.services.errors import ServiceError

log = logging.getLogger(__name__)

RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}"
_local = threading.local()
_KINDS: dict[str, Callable] = {}


def job_kind(name: str):
    """Register `fn(job, progress) -> ModelVersion | None` as the work of jobs of a kind."""

    def register(fn):
        _KINDS[name] = fn
        return fn

    return register


def job_progress(job_id: int, value: float, message: str) -> None:
    TrainingJob.objects.filter(pk=job_id).update(progress=round(value, 3), message=message)


def job_execute(job_id: int) -> None:
    """Run one queued job to the end; its row says how it went."""
    claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), progress=0.02, message="loading data"
    )
    if not claimed:
        return
    job = TrainingJob.objects.select_related("dataset", "created_by").get(pk=job_id)
    try:
        work = _KINDS[job.kind]
        version = work(job, lambda value, message: job_progress(job_id, value, message))
    except ServiceError as exc:
        _finish(job_id, JobStatus.FAILED, error=exc.message)
    except Exception as exc:  # a job must end with a status, whatever went wrong
        log.exception("job %s failed", job_id)
        _finish(job_id, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(job_id, JobStatus.SUCCEEDED, version=version)


def _finish(job_id: int, status: str, *, error: str = "", version=None) -> None:
    fields = {
        "status": status,
        "error": error[:5000],
        "version": version,
        "finished_at": timezone.now(),
    }
    if status == JobStatus.SUCCEEDED:
        fields.update(progress=1.0, message="done")
    else:
        fields["message"] = "failed"
    TrainingJob.objects.filter(pk=job_id).update(**fields)
    metrics.job_ended(status=status)


class EagerRunner:
    """Runs the job in the caller, before returning (commands, tests)."""

    def submit(self, job_id: int) -> None:
        job_execute(job_id)


class ThreadRunner:
    """Runs jobs one after another in a worker thread of this process (the default)."""

    def __init__(self, workers: int):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="training")

    def submit(self, job_id: int) -> None:
        self.executor.submit(self._run, job_id)

    @staticmethod
    def _run(job_id: int) -> None:
        close_old_connections()
        try:
            job_execute(job_id)
        finally:
            connections.close_all()


_thread_runner = None
_thread_runner_lock = threading.Lock()


def get_runner():
    if getattr(_local, "eager", False) or settings.TRAINING_BACKEND == "eager":
        return EagerRunner()
    if settings.TRAINING_BACKEND != "thread":
        raise ValueError(f"unknown TRAINING_BACKEND {settings.TRAINING_BACKEND!r}")
    global _thread_runner
    with _thread_runner_lock:
        if _thread_runner is None:
            _thread_runner = ThreadRunner(settings.TRAINING_WORKERS)
    return _thread_runner


@contextlib.contextmanager
def eager():
    """Within this block jobs of this thread run inline."""
    previous = getattr(_local, "eager", False)
    _local.eager = True
    try:
        yield
    finally:
        _local.eager = previous


def job_enqueue(job: TrainingJob) -> None:
    runner = get_runner()
    TrainingJob.objects.filter(pk=job.pk).update(runner=RUNNER_ID)
    if isinstance(runner, EagerRunner):
        runner.submit(job.pk)
    else:
        # The worker must see the committed row.
        transaction.on_commit(lambda: runner.submit(job.pk))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def jobs_fail_orphaned() -> int:
    """Mark failed the jobs that a dead process of this host left queued or running."""
    host = socket.gethostname()
    failed = 0
    stale = TrainingJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    for job in stale.only("pk", "runner"):
        owner_host, _, pid = job.runner.rpartition(":")
        if owner_host != host or not pid.isdigit():
            continue
        if int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        failed += TrainingJob.objects.filter(
            pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(
            status=JobStatus.FAILED,
            error=f"the server process that ran this job ({job.runner}) stopped; start it again",
            message="failed",
            finished_at=timezone.now(),
        )
    if failed:
        log.warning("marked %d orphaned training job(s) as failed", failed)
    return failed


_checked = False


def _check_once(**kwargs) -> None:
    global _checked
    if _checked:
        return
    _checked = True
    try:
        jobs_fail_orphaned()
    except Exception:  # never fail a request for this housekeeping
        log.exception("could not check for orphaned training jobs")


def connect_orphan_check() -> None:
    """At the first request of a process, fail the jobs a previous process left behind."""
    request_started.connect(_check_once, dispatch_uid="predictor-orphaned-jobs")
