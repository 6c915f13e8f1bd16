"""The job worker of the `db` backend: `manage.py run_worker`.

It claims queued jobs from the database one at a time and runs each in a child process
(`manage.py run_job ID`), which it watches: a job that runs past `JOB_MAX_SECONDS` is marked
failed and its process stopped; a job cancelled through the API or the admin has its
process stopped. The child process writes progress and the end to the job's row itself.
Start as many workers as there are cores to spare; on PostgreSQL they never claim the same
job (SKIP LOCKED).

Between jobs it also runs the monitor pass (`monitoring.alerts.monitor_all`: every production
version's status, and the alerts a change raises) every `MONITOR_INTERVAL_SECONDS` (0: never),
first when it starts, so the statuses are current without a cron job; a pass waits while a
job runs. A pass that fails is logged and tried again an interval later.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection

from predictor.models import JobStatus, TrainingJob
from predictor.services import jobs

log = logging.getLogger(__name__)
MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def _child_env() -> dict:
    """The child sees the database this process uses (a test database included)."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    elif db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env["DATABASE_URL"] = (
            f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
    env["TRAINING_BACKEND"] = "db"
    env["MEDIA_ROOT"], env["ARTIFACT_ROOT"] = str(settings.MEDIA_ROOT), str(settings.ARTIFACT_ROOT)
    return env


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_one(*, job_id: int, max_seconds: float, poll: float = 0.2) -> str:
    """Run a claimed job in a child process until it ends, is cancelled or times out; the
    status it ended with."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, str(MANAGE), "run_job", str(job_id)], env=_child_env()
    )
    try:
        while child.poll() is None:
            time.sleep(poll)
            status = TrainingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
            if status != JobStatus.RUNNING:
                break  # cancelled (or ended as the child exits)
            if time.monotonic() - started > max_seconds and jobs.job_time_out(
                job_id=job_id, seconds=max_seconds
            ):
                log.warning(
                    "job %s is over its time limit of %s s: stopping it", job_id, max_seconds
                )
                break
    finally:
        _stop(child)
    close_old_connections()
    # A child that died without writing an end (killed, out of memory) still ends the job.
    TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED,
        error=f"the job's process exited ({child.returncode}) without finishing",
        message="failed",
    )
    return TrainingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()


def monitor_tick(*, last: float | None, now: float) -> float | None:
    """Run the monitor pass when it never ran (`last` None) or `MONITOR_INTERVAL_SECONDS`
    have passed since `last` (clock seconds); when it last ran."""
    from predictor.services.monitoring import alerts  # scikit-learn, scipy: when first used

    interval = settings.MONITOR_INTERVAL_SECONDS
    if interval <= 0 or (last is not None and now - last < interval):
        return last
    try:
        checked = alerts.monitor_all()
    except Exception:  # a long-running worker outlives a failed pass; the next one retries
        log.exception("the monitor pass failed")
    else:
        fired = sum(1 for c in checked if c.alert)
        log.info("monitor pass: %d versions checked, %d alerts", len(checked), fired)
    return now


def work(*, once: bool = False, poll: float = 0.5, stop=lambda: False, clock=time.monotonic) -> int:
    """Claim and run jobs until stopped (or, with `once`, until the queue is empty), with
    the monitor pass between them. How many jobs ran."""
    runner_id = f"{socket.gethostname()}:{os.getpid()}"
    jobs.jobs_fail_orphaned()
    jobs.jobs_reap_stale()
    ran = 0
    monitored = None
    while not stop():
        monitored = monitor_tick(last=monitored, now=clock())
        job_id = jobs.job_claim(runner_id=runner_id)
        if job_id is None:
            if once:
                return ran
            time.sleep(poll)
            close_old_connections()
            continue
        status = run_one(job_id=job_id, max_seconds=settings.JOB_MAX_SECONDS)
        log.info("job %s ended %s", job_id, status)
        ran += 1
    return ran
