#!/usr/bin/env bash
# A traffic policy changed through one gunicorn worker is followed by the other within a
# second, and shadows run in the background of a real server: start gunicorn with 2 workers
# on a throw-away SQLite database with iris v1 (production) and v2, route everything to v2
# with v1 as a shadow, wait 1.1 s, and require every one of 40 predictions (spread over
# both workers by concurrency) to be answered by v2 and shadowed by v1; then back to
# production only, and every answer must be v1 again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
PORT=${ROLLOUT_CHECK_PORT:-8767}
export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DJANGO_SECURE_SSL_REDIRECT=false
export DATABASE_URL="sqlite:///$WORK/db.sqlite3" MEDIA_ROOT="$WORK/media"
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute TRAINING_BACKEND=thread
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
unset PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir

$PY manage.py migrate --noinput -v0
$PY manage.py load_demo --only iris >/dev/null
$PY manage.py train --dataset iris --model iris --algorithm knn --cv 0 >/dev/null
STAFF_TOKEN=$($PY manage.py shell -v0 -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
staff = get_user_model().objects.create_user('rollout-ci', password='x', is_staff=True)
from django.contrib.auth.models import Group
staff.groups.add(Group.objects.get(name='Model managers'))  # managing needs the group
print(Token.objects.create(user=staff).key)")

.venv/bin/gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf --workers 2 \
  --bind "127.0.0.1:$PORT" --log-level info --error-logfile "$WORK/gunicorn.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

BASE="http://127.0.0.1:$PORT" TOKEN="$STAFF_TOKEN" $PY - <<'PYEOF' || { tail -30 "$WORK/gunicorn.log"; exit 1; }
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

BASE, AUTH = os.environ["BASE"], {"Authorization": f"Token {os.environ['TOKEN']}"}


def call(path, body=None, method=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        BASE + path, data=data, method=method,
        headers={**AUTH, "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


for _ in range(300):
    try:
        if call("/healthz")[0] == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("gunicorn did not answer")

ROW = {"data": [[5.1, 3.5, 1.4, 0.2]]}


def versions(n=40):
    def one(i):
        status, body = call("/api/models/iris/predict/", ROW, headers={"X-Routing-Key": f"k{i}"})
        assert status == 200, (status, body)
        return body["version"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(one, range(n)))


print("before:", versions())  # both workers now cache "production only"
status, body = call("/api/models/iris/traffic/", {"routes": [{"version": 2, "weight": 100}], "shadows": [1], "reason": "ci"}, "PUT")
assert status == 200, body
time.sleep(1.1)
after = versions()
print("after the policy:", after)
if after != Counter({2: 40}):
    sys.exit(f"not every worker follows the new policy within a second: {after}")
for _ in range(50):  # shadows run in a background thread of each worker
    status, page = call("/api/predictions/?source=shadow&page_size=1000")
    if len(page["results"]) >= 40:
        break
    time.sleep(0.1)
shadowed = page["results"]
print("shadow rows:", len(shadowed))
if len(shadowed) != 40 or {p["version"] for p in shadowed} != {1}:
    sys.exit(f"expected 40 shadow rows of v1, got {len(shadowed)}")
status, body = call("/api/models/iris/traffic/", {"routes": [], "shadows": [], "reason": "ci back"}, "PUT")
time.sleep(1.1)
back = versions()
print("back to production:", back)
if back != Counter({1: 40}):
    sys.exit(f"not every worker went back to production: {back}")
print("ok: both workers follow a policy change within 1.1 s; 40 shadow rows logged")
PYEOF
