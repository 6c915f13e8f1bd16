#!/usr/bin/env bash
# /metrics reports totals over every gunicorn worker, not one worker's share: start gunicorn
# with 2 sync workers on a throw-away SQLite database with the demo iris model, send N
# predictions concurrently, check that both workers counted some (their files in the metrics
# directory gunicorn made), then scrape several times (any worker may answer) and require the
# sum for iris to be N each time, /readyz to be ready, and the per-process gauges of two pids.
# Then stop gunicorn: with a long PREDICTION_AGGREGATES_DELAY the workers add their rows'
# hourly figures only as they exit, so the aggregates must then count N predictions.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
N=${METRICS_CHECK_PREDICTIONS:-40}
WORK=$(mktemp -d)
PORT=${METRICS_CHECK_PORT:-8766}
export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DJANGO_SECURE_SSL_REDIRECT=false
export DATABASE_URL="sqlite:///$WORK/db.sqlite3" MEDIA_ROOT="$WORK/media"
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute TRAINING_BACKEND=thread
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
# gunicorn's on_starting makes the metrics directory itself; none may be inherited here.
unset PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir

$PY manage.py migrate --noinput -v0
$PY manage.py load_demo --only iris >/dev/null
STAFF_TOKEN=$($PY manage.py shell -v0 -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
staff = get_user_model().objects.create_user('metrics-ci', password='x', is_staff=True)
from django.contrib.auth.models import Group
staff.groups.add(Group.objects.get(name='Model managers'))  # managing needs the group
print(Token.objects.create(user=staff).key)")

PREDICTION_AGGREGATES_DELAY=600 \
  .venv/bin/gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf --workers 2 \
  --bind "127.0.0.1:$PORT" --log-level info --error-logfile "$WORK/gunicorn.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

BASE="http://127.0.0.1:$PORT" TOKEN="$STAFF_TOKEN" N="$N" LOG="$WORK/gunicorn.log" $PY - <<'EOF' || {
import glob
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

BASE, TOKEN, N = os.environ["BASE"], os.environ["TOKEN"], int(os.environ["N"])
AUTH = {"Authorization": f"Token {TOKEN}"}


def call(path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {**AUTH, "Content-Type": "application/json"} if data else AUTH
    request = urllib.request.Request(BASE + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


for _ in range(300):  # the workers boot and load Django
    try:
        if call("/healthz")[0] == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("gunicorn did not answer /healthz")

status, body = call("/readyz")
ready = json.loads(body)
print("readyz:", status, ready)
if status != 200 or ready["status"] != "ready":
    sys.exit("/readyz is not ready")

ROW = {"data": [[5.1, 3.5, 1.4, 0.2]]}
with ThreadPoolExecutor(max_workers=8) as pool:
    codes = list(pool.map(lambda _: call("/api/models/iris/predict/", ROW)[0], range(N)))
if codes != [200] * N:
    sys.exit(f"predictions failed: {codes}")
time.sleep(0.5)  # both workers' process gauges have been sampled at start-up

# gunicorn's on_starting logged the directory it made; each worker writes its own files.
found = re.search(r"metrics: worker files in (\S+)", open(os.environ["LOG"]).read())
if not found:
    sys.exit("gunicorn did not set up a metrics directory (mlsite/gunicorn_conf.py on_starting)")
counted = sorted(glob.glob(os.path.join(found.group(1), "counter_*.db")))
print("counter files:", [os.path.basename(p) for p in counted])
if len(counted) < 2:
    sys.exit("the predictions were not spread over both workers: nothing to add up")

failures = []
pids = set()
for scrape in range(6):
    status, body = call("/metrics")
    if status != 200:
        sys.exit(f"/metrics answered {status}: {body[:200]!r}")
    samples = [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]
    total = sum(
        s.value
        for s in samples
        if s.name == "mlsite_predictions_total" and s.labels.get("model") == "iris"
    )
    requests = sum(
        s.value
        for s in samples
        if s.name == "mlsite_prediction_requests_total"
        and s.labels.get("model") == "iris"
        and s.labels.get("code") == "200"
    )
    seen = {s.labels["pid"] for s in samples if s.name == "mlsite_process_resident_memory_bytes"}
    pids |= seen
    print(f"scrape {scrape}: predictions {total:g}, requests {requests:g}, pids {sorted(seen)}")
    if total != N or requests != N:
        failures.append(f"scrape {scrape}: predictions {total:g}, requests {requests:g}")
    if len(seen) < 2:
        failures.append(f"scrape {scrape}: per-process gauges of {len(seen)} process(es)")
if failures:
    sys.exit("metrics are not totals over both workers:\n  " + "\n  ".join(failures))
print(f"ok: {N} predictions counted over 2 workers (pids {', '.join(sorted(pids))})")
EOF
  echo "-- gunicorn log"; cat "$WORK/gunicorn.log"; exit 1
}

kill -TERM "$SERVER"; wait "$SERVER" || true
N="$N" $PY manage.py shell -v0 -c "
import os, sys
from django.db.models import Sum
from predictor.models import Prediction, PredictionHour
n = int(os.environ['N'])
rows = Prediction.objects.filter(model__name='iris').count()
hours = PredictionHour.objects.filter(model__name='iris', user_key=-1).aggregate(
    p=Sum('predictions'), r=Sum('requests'))
print(f'after the workers exited: {rows} rows, aggregates {hours}')
sys.exit(0 if rows == n and hours == {'p': n, 'r': n} else 'aggregates lost at exit')
"
