"""`make bench`, part three: serving while a training job runs beside it.

The job runs in `manage.py run_worker` (TRAINING_BACKEND=db), not in the server: iris
single-row predictions are measured before and while a long random forest trains.
`h` is the harness (bench/run.py)."""

import subprocess
import sys
import time


def job_bench(seconds: float, token: str, h) -> str:
    from predictor.models import Dataset, JobStatus
    from predictor.services import jobs
    from predictor.services.training import job_create

    service = h.Server(
        "service-job",
        h.gunicorn_args("mlsite.wsgi", h.SERVICE_PORT, "-c", "python:mlsite.gunicorn_conf"),
        h.SERVICE_PORT,
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--poll", "0.2"],
        cwd=h.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    body, _ = h.bodies("iris", 1)
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    url = f"http://127.0.0.1:{h.SERVICE_PORT}/api/models/iris/predict/"
    lines = ["| while | connections | req/s | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    try:
        h.warm_up(token)
        for label in ("no job", "a job trains (run_worker)"):
            job = None
            if label != "no job":
                job = job_create(
                    dataset=Dataset.objects.get(name="credit-risk"),
                    model_name="bench-slow",
                    algorithm="random_forest",
                    params={"n_estimators": 2000},
                    cv=5,
                )
                for _ in range(300):
                    job.refresh_from_db()
                    if job.status == JobStatus.RUNNING and job.progress >= 0.1:
                        break
                    time.sleep(0.1)
            for connections in (1, 4):
                ours = h.load(url, body, headers, connections, seconds)
                lines.append(
                    f"| {label} | {connections} | {ours['rps']:.0f} | {ours['p50_ms']:.2f} "
                    f"| {ours['p99_ms']:.2f} |"
                )
                print(lines[-1], flush=True)
            if job is not None:
                job.refresh_from_db()
                lines.append(
                    f"\nThe job was still `{job.status}` at the end (progress {job.progress:.2f})."
                )
                if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                    jobs.job_cancel(job=job)
    finally:
        worker.terminate()
        worker.wait(30)
        service.stop()
    return "\n".join(lines)
