#!/usr/bin/env bash
# Several processes, one deployment: two gunicorn servers on different ports sharing one
# PostgreSQL database, Redis (cache and Celery broker) and one artifact directory, plus a
# Celery worker. A job posted to server A runs on the worker; server B serves the new
# version; a promotion through A reaches B within a second; a worker killed in the middle
# of a job leaves the job failed (not stuck running) once a worker starts again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
DB=mlsite_scaleout
export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DJANGO_SECURE_SSL_REDIRECT=false DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" MEDIA_ROOT="$WORK/media"
export CACHE_URL="redis://127.0.0.1:6379/4" CELERY_BROKER_URL="redis://127.0.0.1:6379/3"
export TRAINING_BACKEND=celery JOB_HEARTBEAT_SECONDS=1
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute
unset PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir

$PY - <<'PYEOF'
import psycopg
with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
    c.execute('DROP DATABASE IF EXISTS "mlsite_scaleout"')
    c.execute('CREATE DATABASE "mlsite_scaleout"')
import redis
for db in (3, 4):
    redis.Redis(db=db).flushdb()
PYEOF
$PY manage.py migrate --noinput -v0
TRAINING_BACKEND=eager $PY manage.py load_demo --only iris credit-risk >/dev/null
STAFF_TOKEN=$($PY manage.py shell -v0 -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
staff = get_user_model().objects.create_user('scaleout-ci', password='x', is_staff=True)
from django.contrib.auth.models import Group
staff.groups.add(Group.objects.get(name='Model managers'))  # managing needs the group
print(Token.objects.create(user=staff).key)")

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
  pkill -f "celery -A mlsite worker.*scaleout-ci" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for port in 8781 8782; do
  setsid .venv/bin/gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf --workers 1 --threads 4 \
    --bind "127.0.0.1:$port" --error-logfile "$WORK/gunicorn-$port.log" &
  PIDS+=($!)
done

A=http://127.0.0.1:8781 B=http://127.0.0.1:8782 TOKEN="$STAFF_TOKEN" WORK="$WORK" $PY - <<'PYEOF'
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

A, B, WORK = os.environ["A"], os.environ["B"], os.environ["WORK"]
AUTH = {"Authorization": f"Token {os.environ['TOKEN']}", "Content-Type": "application/json"}


def call(base, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=AUTH)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def worker():
    log = open(f"{WORK}/celery.log", "a")
    return subprocess.Popen(
        [".venv/bin/celery", "-A", "mlsite", "worker", "-c", "1", "-n", "scaleout-ci@%h", "--loglevel=INFO"],
        stdout=log, stderr=log, start_new_session=True,
    )


def wait(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def up(base):
    try:
        return call(base, "/healthz")[0] == 200
    except OSError:
        return False


for base in (A, B):
    wait(lambda: up(base), 60, f"{base} to start")
first = worker()

# 1. A job posted to A runs on the Celery worker; B reports it and serves its version.
status, job = call(A, "/api/training-jobs/", {"dataset": "iris", "model": "iris", "algorithm": "knn", "cv": 0})
assert status == 202, job
done = wait(lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(call(B, f"/api/training-jobs/{job['id']}/")[1]), 120, "the job")
assert done["status"] == "succeeded", done
print("job", job["id"], "ran on the worker; version", done["version"])
status, answer = call(B, f"/api/models/iris/versions/{done['version']}/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]})
assert status == 200 and answer["version"] == done["version"], answer

# 2. A promotion through A is served by B within a second.
status, _ = call(B, "/api/models/iris/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]})
status, body = call(A, f"/api/models/iris/versions/{done['version']}/promote/", {"stage": "production", "reason": "ci"})
assert status == 200, body
time.sleep(1.1)
status, answer = call(B, "/api/models/iris/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]})
assert status == 200 and answer["version"] == done["version"], answer
print("B serves the version promoted through A within 1.1 s")

# 3. A worker killed in the middle of a job: the job ends failed, not stuck running.
status, slow = call(A, "/api/training-jobs/", {"dataset": "credit-risk", "model": "slow", "algorithm": "random_forest", "params": {"n_estimators": 2000}, "cv": 5})
assert status == 202, slow
wait(lambda: call(B, f"/api/training-jobs/{slow['id']}/")[1]["status"] == "running", 60, "the slow job to start")
time.sleep(1.5)
os.killpg(first.pid, signal.SIGKILL)
first.wait()
print("worker killed while job", slow["id"], "ran")
time.sleep(3.5)  # three missed heartbeats
second = worker()
try:
    ended = wait(lambda: (lambda j: j if j["status"] != "running" else None)(call(B, f"/api/training-jobs/{slow['id']}/")[1]), 60, "the killed job to end")
finally:
    os.killpg(second.pid, signal.SIGTERM)
assert ended["status"] == "failed" and "worker stopped" in ended["error"], ended
print("the killed job ended:", ended["status"], "-", ended["error"])
print("ok: scale-out on PostgreSQL, Redis and a Celery worker")
PYEOF
