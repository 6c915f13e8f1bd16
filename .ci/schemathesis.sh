#!/usr/bin/env bash
# Fuzz the live API with schemathesis against its own OpenAPI document (all checks).
# Runs gunicorn on a throw-away SQLite database with the demo models; fuzzes twice, with a
# staff token and with an ordinary user's token, on two seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
PORT=${SCHEMATHESIS_PORT:-8765}
export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DJANGO_SECURE_SSL_REDIRECT=false DATABASE_URL="sqlite:///$WORK/db.sqlite3" MEDIA_ROOT="$WORK/media"
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute TRAINING_BACKEND=thread
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost

$PY manage.py migrate --noinput -v0
$PY manage.py load_demo --only iris diabetes credit-risk >/dev/null
read -r STAFF_TOKEN USER_TOKEN < <($PY manage.py shell -v0 -c "
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
User = get_user_model()
staff = User.objects.create_user('fuzz', password='x', is_staff=True)
from django.contrib.auth.models import Group
staff.groups.add(Group.objects.get(name='Model managers'))  # managing needs the group
user = User.objects.create_user('fuzz-user', password='x')
print(Token.objects.create(user=staff).key, Token.objects.create(user=user).key)")

.venv/bin/gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --log-level warning --error-logfile "$WORK/gunicorn.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Two passes: a staff token with one seed, an ordinary user's token with another, so the
# role checks and the non-staff paths are fuzzed too. A failure in either fails the script.
fuzz() {
  .venv/bin/schemathesis run "http://127.0.0.1:$PORT/api/schema/" \
    --checks all \
    --header "Authorization: Token $1" \
    --wait-for-schema 30 \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
    --workers 1 \
    --seed "$2" \
    "${@:3}"
}
echo "-- schemathesis as staff, seed 1"
fuzz "$STAFF_TOKEN" 1 "$@"
echo "-- schemathesis as an ordinary user, seed 2"
fuzz "$USER_TOKEN" 2 "$@"
