"""Where jobs run, and how a job row goes from queued to its end.

A job's kind (`train`, `retrain`, `batch`) names a function that its own module registers
with `job_kind`; the runner looks it up by name and imports the module only when a job of
that kind first runs in a process (`_KIND_MODULES`); those modules enqueue through
`job_enqueue`. Runners (`TRAINING_BACKEND`):

- `db` (default): the job rows are the queue. `manage.py run_worker` (started by `make run`
  beside the server) claims the oldest queued job (`SELECT … FOR UPDATE SKIP LOCKED` on
  PostgreSQL) and runs it in a child process (`manage.py run_job ID`) that it can stop: a
  job over `JOB_MAX_SECONDS` ends `failed` with that reason, a cancelled one `cancelled`.
  Serving processes never train.
- `celery`: a Celery task (`predictor.tasks.run_job`) on the broker `CELERY_BROKER_URL`
  (Redis), acknowledged late; workers on any machine (`celery -A mlsite worker`).
- `eager`: inline, before `job_enqueue` returns (tests, commands).
- `thread`: a worker thread of the process that received the job (development only).

A job that ends without succeeding leaves no version and no artifact: the version is
created, and the artifact kept, only if the job is still running at that moment
(`job_commit_guard`). A running job writes a heartbeat; one whose heartbeat stops (its
worker was killed, its machine lost) is ended `failed` by `jobs_reap_stale`, which workers
run when they start and Celery beat runs every minute.
"""

import contextlib
import importlib
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

from predictor.models import JobKind, JobStatus, TrainingJob
from predictor.services import metrics
from predictor.services.access import is_authenticated, is_manager
from predictor.services.errors import Conflict, ServiceError, TooManyJobs
from predictor.services.log import deferred

log = logging.getLogger(__name__)

RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}"
_local = threading.local()
_KINDS: dict[str, Callable] = {}
# Where each kind registers itself: imported by name when a job of that kind first runs in
# a process (a serving process does not import training, nor scikit-learn).
_KIND_MODULES = {
    JobKind.TRAIN: "predictor.services.training.run",
    JobKind.RETRAIN: "predictor.services.training.retrain",
    JobKind.SCORING: "predictor.services.serving.scoring",
}


def _kind(name: str) -> Callable:
    if name not in _KINDS and name in _KIND_MODULES:
        importlib.import_module(_KIND_MODULES[name])
    return _KINDS[name]


def job_kind(*, name: str):
    """Register `fn(job, progress) -> ModelVersion | None` as the work of jobs of a kind."""

    def register(fn):
        _KINDS[name] = fn
        return fn

    return register


class JobStopped(Exception):
    """The job was cancelled or ran out of time while it worked: stop, keep nothing."""


def job_progress(*, job_id: int, value: float, message: str) -> None:
    """Record progress; stop the work if the job no longer runs (cancelled, timed out)."""
    updated = TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=round(value, 3), message=message
    )
    if not updated:
        raise JobStopped(f"job {job_id} was stopped")


@contextlib.contextmanager
def job_commit_guard(job_id: int | None):
    """Around the creation of a job's version: inside one transaction with the job's row
    locked, and only while the job still runs (else JobStopped, nothing kept)."""
    with transaction.atomic():
        if job_id is not None:
            running = (
                TrainingJob.objects.select_for_update()
                .filter(pk=job_id, status=JobStatus.RUNNING)
                .exists()
            )
            if not running:
                raise JobStopped(f"job {job_id} was stopped before its version was saved")
        yield


def job_execute(*, job_id: int, runner_id: str = "") -> None:
    """Claim one queued job and run it to the end here; its row says how it went. A job
    that is not queued any more (cancelled, or a message delivered twice) is left alone."""
    fields = {"status": JobStatus.RUNNING, "started_at": timezone.now(), "progress": 0.02}
    if runner_id:
        fields["runner"] = runner_id
    claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        message="loading data", heartbeat_at=timezone.now(), **fields
    )
    if claimed:
        try:
            job_run_claimed(job_id=job_id)
        finally:
            deferred.flush_quietly()  # a batch job's figures, before its process ends


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
        fields["message"] = str(status)
    # Only a running job ends here: a cancelled or timed-out one keeps the end it was given.
    if TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields):
        metrics.job_ended(status=status)


def job_cancel(*, job: TrainingJob, user=None) -> TrainingJob:
    """Cancel a queued or running job (its worker stops it); an ended one → Conflict."""
    who = getattr(user, "username", None) or "an operator"
    updated = TrainingJob.objects.filter(
        pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(
        status=JobStatus.CANCELLED,
        error=f"cancelled by {who}",
        message="cancelled",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    if not updated:
        raise Conflict(f"job {job.pk} has ended ({job.status}); there is nothing to cancel")
    metrics.job_ended(status=JobStatus.CANCELLED)
    return job


def job_time_out(*, job_id: int, seconds: float) -> bool:
    """End a running job that is over its time limit (the worker then stops its process)."""
    updated = TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED,
        error=f"stopped: over its time limit of {seconds:g} s (JOB_MAX_SECONDS)",
        message="failed",
        finished_at=timezone.now(),
    )
    if updated:
        metrics.job_ended(status=JobStatus.FAILED)
    return bool(updated)


def job_claim(*, runner_id: str) -> int | None:
    """The oldest queued job, now running for `runner_id` (None when the queue is empty).
    Two workers never claim the same job: SKIP LOCKED on PostgreSQL; elsewhere the
    conditional update decides."""
    with transaction.atomic():
        queued = TrainingJob.objects.filter(status=JobStatus.QUEUED).order_by("created_at", "pk")
        if connections[queued.db].features.has_select_for_update_skip_locked:
            queued = queued.select_for_update(skip_locked=True)
        job_id = queued.values_list("pk", flat=True).first()
        if job_id is None:
            return None
        claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING,
            runner=runner_id,
            heartbeat_at=timezone.now(),
            started_at=timezone.now(),
            progress=0.02,
            message="starting",
        )
    return job_id if claimed else None


@contextlib.contextmanager
def _heartbeat(job_id: int):
    """Write the job's heartbeat every JOB_HEARTBEAT_SECONDS while the block runs."""
    stop = threading.Event()

    def beat():
        try:
            while True:
                TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                if stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                    return
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def jobs_reap_stale() -> int:
    """End the running jobs whose heartbeat stopped more than 3 beats ago."""
    limit = timezone.now() - timezone.timedelta(seconds=3 * settings.JOB_HEARTBEAT_SECONDS)
    stale = TrainingJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=limit)
    count = stale.update(
        status=JobStatus.FAILED,
        error="its worker stopped while it ran (no heartbeat); start the job again",
        message="failed",
        finished_at=timezone.now(),
    )
    for _ in range(count):
        metrics.job_ended(status=JobStatus.FAILED)
    if count:
        log.warning("ended %d job(s) whose worker stopped", count)
    return count


def job_run_claimed(*, job_id: int) -> None:
    """Run a job a worker claimed (in the child process `manage.py run_job`)."""
    job = TrainingJob.objects.select_related("dataset", "created_by").get(pk=job_id)
    if job.status != JobStatus.RUNNING:
        return
    if isinstance(get_runner(), EagerRunner):
        _run(job)  # inline: the caller is the heartbeat
        return
    with _heartbeat(job_id):
        _run(job)


def _run(job: TrainingJob) -> None:
    job_id = job.pk
    try:
        version = _kind(job.kind)(
            job, lambda value, message: job_progress(job_id=job_id, value=value, message=message)
        )
    except JobStopped:
        return
    except ServiceError as exc:
        _finish(job_id, JobStatus.FAILED, error=exc.message)
    except Exception as exc:  # a job must end with a status, whatever went wrong
        if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's time limit
            job_time_out(job_id=job_id, seconds=settings.JOB_MAX_SECONDS)
            return
        log.exception("job %s failed", job_id)
        _finish(job_id, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(job_id, JobStatus.SUCCEEDED, version=version)


class EagerRunner:
    """Runs the job in the caller, before returning (commands, tests)."""

    def submit(self, job_id: int) -> None:
        job_execute(job_id=job_id)


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
            job_execute(job_id=job_id)
        finally:
            connections.close_all()


_thread_runner = None
_thread_runner_lock = threading.Lock()


class CeleryRunner:
    """A Celery task per job, sent by name (the task lives in predictor/tasks.py)."""

    def submit(self, job_id: int) -> None:
        from celery import current_app  # noqa: PLC0415  (mlsite.celery's app)

        current_app.send_task("predictor.tasks.run_job", args=[job_id])


class DatabaseRunner:
    """The job row is the queue: a `manage.py run_worker` process claims and runs it."""

    def submit(self, job_id: int) -> None:
        pass  # queued by its row; the worker polls


def get_runner():
    if getattr(_local, "eager", False) or settings.TRAINING_BACKEND == "eager":
        return EagerRunner()
    if settings.TRAINING_BACKEND == "db":
        return DatabaseRunner()
    if settings.TRAINING_BACKEND == "celery":
        return CeleryRunner()
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


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def jobs_cap(*, user) -> tuple[int, str] | None:
    """How many queued and running jobs the user may have, and the setting that says so;
    None for jobs nobody started (the system)."""
    if not is_authenticated(user=user):
        return None
    if is_manager(user=user):
        return settings.JOBS_MAX_PER_MANAGER, "JOBS_MAX_PER_MANAGER"
    return settings.JOBS_MAX_PER_USER, "JOBS_MAX_PER_USER"


def jobs_check_cap(*, user, exclude: int | None = None) -> None:
    """TooManyJobs (429) when the user already has their cap of queued and running jobs
    (training, retraining and batch scoring alike); `exclude`: a job not to count."""
    cap = jobs_cap(user=user)
    if cap is None:
        return
    limit, setting = cap
    active = TrainingJob.objects.filter(created_by_id=user.pk, status__in=ACTIVE)
    if exclude is not None:
        active = active.exclude(pk=exclude)
    count = active.count()
    if count >= limit:
        raise TooManyJobs(
            f"you have {count} job{'s' if count != 1 else ''} queued or running; the limit is "
            f"{limit} ({setting}): wait for one to end, or cancel one, then try again",
            limit=limit,
            active=count,
        )


def _refuse_over_cap(job: TrainingJob) -> None:
    """Counted once the job's row is written, so two requests at once cannot both slip
    under the cap (the callers also check before their work, to spare it). The refused row
    is deleted; one a worker claimed meanwhile is left to run."""
    try:
        jobs_check_cap(user=job.created_by, exclude=job.pk)
    except TooManyJobs:
        if TrainingJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).delete()[0]:
            raise


def job_enqueue(*, job: TrainingJob, capped: bool = True) -> None:
    """Hand a recorded job to the runner, unless its creator is over their cap of queued
    and running jobs (TooManyJobs, the job deleted); `capped=False`: the system started it."""
    if capped and job.created_by_id is not None:
        _refuse_over_cap(job)
    runner = get_runner()
    if isinstance(runner, DatabaseRunner):
        return  # the worker that claims it writes its own id
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
