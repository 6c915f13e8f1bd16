#!/usr/bin/env bash
# Fuzz the live API with schemathesis against its own OpenAPI document (all checks).
# Runs gunicorn on a throw-away SQLite database with the demo models and a staff token.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
PORT=${SCHEMATHESIS_PORT:-8765}
export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DATABASE_URL="sqlite:///$WORK/db.sqlite3" MEDIA_ROOT="$WORK/media"
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute TRAINING_BACKEND=thread
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost

$PY manage.py migrate --noinput -v0
$PY manage.py load_demo --only iris diabetes credit-risk >/dev/null
TOKEN=$($PY manage.py shell -v0 -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
u = get_user_model().objects.create_user('fuzz', password='x', is_staff=True)
print(Token.objects.create(user=u).key)")

.venv/bin/gunicorn mlsite.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --log-level warning --error-logfile "$WORK/gunicorn.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

.venv/bin/schemathesis run "http://127.0.0.1:$PORT/api/schema/" \
  --checks all \
  --header "Authorization: Token $TOKEN" \
  --wait-for-schema 30 \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
  --workers 1 \
  --seed 1 \
  "$@"
