#!/usr/bin/env bash
# Slow clients stop at the proxy (docs/operations.md, "In production"): gunicorn as that page runs it
# (2 workers × 8 threads, 127.0.0.1 only) behind nginx with the shipped
# deploy/nginx-proxy.conf on a plain-HTTP loopback listener, on a throw-away SQLite database
# with the demo iris model. 50 sockets send half a request to nginx (headers without the
# blank line, or a 100,000-byte body cut short) and stay open; then GET /healthz and a real
# prediction through nginx must each answer 200 within a second. For contrast, the same
# requests are timed with 50 half-sent sockets straight at gunicorn (printed, not asserted;
# given up after 5 s). First, deploy/nginx.conf itself (TLS, the upstream, the include) must
# pass `nginx -t` with a throw-away certificate.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ROOT=$(pwd)

# Debian's nginx; nginx-light where the release still has it (Debian 12), else nginx.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq
  pkg=nginx
  if apt-cache policy nginx-light 2>/dev/null | grep -q 'Candidate: [0-9]'; then pkg=nginx-light; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -v

read -r GPORT NPORT TPORT1 TPORT2 < <($PY -c "
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(('127.0.0.1', 0))
print(*(s.getsockname()[1] for s in socks))")
WORK=$(mktemp -d)

export DJANGO_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export DJANGO_DEBUG=false DJANGO_SECURE_SSL_REDIRECT=false DJANGO_BEHIND_PROXY=true
export DATABASE_URL="sqlite:///$WORK/db.sqlite3" MEDIA_ROOT="$WORK/media"
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute TRAINING_BACKEND=thread
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
unset PROMETHEUS_MULTIPROC_DIR prometheus_multiproc_dir

SERVER=
cleanup() {
  if [ -s "$WORK/nginx.pid" ]; then
    nginx_pid=$(cat "$WORK/nginx.pid")
    kill -TERM "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  if [ -n "$SERVER" ]; then
    kill -TERM -- -"$SERVER" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- -"$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. The shipped deploy/nginx.conf parses and loads, with its certificate paths pointed at a
# throw-away certificate and its listeners moved to loopback ports (`nginx -t` binds them).
mkdir -p "$WORK/tls/snippets"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=ml.example.org \
  -keyout "$WORK/tls/privkey.pem" -out "$WORK/tls/fullchain.pem" 2>/dev/null
cp deploy/nginx-proxy.conf "$WORK/tls/snippets/mlsite-proxy.conf"
sed -E -e "s#/etc/letsencrypt/live/ml.example.org/#$WORK/tls/#" \
  -e "s/^( *)listen 80;/\1listen 127.0.0.1:$TPORT1;/" \
  -e "s/^( *)listen 443 /\1listen 127.0.0.1:$TPORT2 /" \
  deploy/nginx.conf >"$WORK/tls/mlsite.conf"
if [ "$(grep -cE "^ *listen " "$WORK/tls/mlsite.conf")" != 2 ] \
  || [ "$(grep -cE "^ *listen 127.0.0.1:" "$WORK/tls/mlsite.conf")" != 2 ]; then
  echo "deploy/nginx.conf: expected 'listen 80;' and 'listen 443 ...' to move to loopback"; exit 1
fi
cat >"$WORK/tls/nginx.conf" <<EOF
pid $WORK/tls/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $WORK/tls/body;
    proxy_temp_path $WORK/tls/proxy;
    fastcgi_temp_path $WORK/tls/fastcgi;
    uwsgi_temp_path $WORK/tls/uwsgi;
    scgi_temp_path $WORK/tls/scgi;
    include $WORK/tls/mlsite.conf;
}
EOF
"$NGINX" -t -q -p "$WORK/tls/" -e "$WORK/tls/error.log" -c "$WORK/tls/nginx.conf" \
  || { cat "$WORK/tls/error.log"; echo "deploy/nginx.conf does not pass nginx -t"; exit 1; }
echo "deploy/nginx.conf + deploy/nginx-proxy.conf: nginx -t ok"

# 2. gunicorn as in production, on loopback; nginx with the shipped snippet in front.
$PY manage.py migrate --noinput -v0
$PY manage.py load_demo --only iris >/dev/null

setsid .venv/bin/gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf --workers 2 --threads 8 \
  --bind "127.0.0.1:$GPORT" --error-logfile "$WORK/gunicorn.log" >>"$WORK/gunicorn.log" 2>&1 &
SERVER=$!

# Root's nginx would run its workers as nobody, who cannot use the temporary directory.
USER_LINE=
if [ "$(id -u)" = 0 ]; then USER_LINE="user root;"; fi
cat >"$WORK/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
pid $WORK/nginx.pid;
events { worker_connections 512; }
http {
    access_log $WORK/nginx-access.log;
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    fastcgi_temp_path $WORK/nginx-fastcgi;
    uwsgi_temp_path $WORK/nginx-uwsgi;
    scgi_temp_path $WORK/nginx-scgi;
    upstream mlsite { server 127.0.0.1:$GPORT; }
    server {
        listen 127.0.0.1:$NPORT;
        server_name localhost;
        include $ROOT/deploy/nginx-proxy.conf;
    }
}
EOF
"$NGINX" -p "$WORK/" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon on;' \
  || { cat "$WORK/nginx-error.log"; exit 1; }

NGINX_PORT=$NPORT GUNICORN_PORT=$GPORT $PY - <<'PYEOF' || {
import json
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection

NGINX, GUNICORN = int(os.environ["NGINX_PORT"]), int(os.environ["GUNICORN_PORT"])
SLOW = 50  # half-sent requests held open
BUDGET = 1.0  # seconds a normal request may take through nginx meanwhile
CONTRAST = 5.0  # seconds the contrast waits straight at gunicorn
ROW = {"inputs": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}
NORMAL = [
    ("GET /healthz", "GET", "/healthz", None),
    ("POST /api/models/iris/predict/", "POST", "/api/models/iris/predict/", json.dumps(ROW)),
]


def timed(port, method, path, body, timeout):
    """(status or None, seconds, body); None when no answer came within the timeout."""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": "localhost"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    start = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, time.perf_counter() - start, data
    except (TimeoutError, socket.timeout):
        return None, time.perf_counter() - start, b""
    finally:
        conn.close()


def half_sent(port, n):
    """n connections that each send part of a request and then nothing more."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2 == 0:  # the request line and some headers, never the blank line
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow-ci\r\n"
                      b"Accept: */*\r\n")
        else:  # whole headers, then 4,000 of the 100,000 bytes announced
            s.sendall(b"POST /api/models/iris/predict/ HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                      + b'{"inputs": ' + b" " * 3989)
        socks.append(s)
    return socks


def still_waiting(socks):
    """How many of them the server neither answered nor closed."""
    waiting = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)
        except BlockingIOError:
            waiting += 1
        except OSError:
            pass
    return waiting


def close(socks):
    for s in socks:
        s.close()


deadline = time.monotonic() + 90
while True:  # gunicorn boots and loads Django; nginx answers 502 until then
    try:
        if timed(NGINX, "GET", "/healthz", None, 5)[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("no 200 from /healthz through nginx within 90 s")
    time.sleep(0.2)

# Warm both workers (first prediction loads the model), and a baseline without slow clients.
for _ in range(10):
    for _label, method, path, body in NORMAL:
        status, _, data = timed(NGINX, method, path, body, 10)
        if status != 200:
            sys.exit(f"{method} {path} through nginx answered {status}: {data[:300]!r}")
status, _, data = timed(NGINX, "POST", NORMAL[1][2], NORMAL[1][3], 10)
print("prediction through nginx:", json.loads(data))


def series(port, timeout):
    out = {}
    for label, method, path, body in NORMAL:
        out[label] = [timed(port, method, path, body, timeout) for _ in range(5)]
    return out


def show(results):
    for label, runs in results.items():
        shown = ", ".join(f"{s} in {t * 1000:.1f} ms" if s else f"no answer in {t:.1f} s"
                          for s, t, _ in runs)
        print(f"  {label}: {shown}")


print("\nthrough nginx, no slow clients:")
show(series(NGINX, 10))

failures = []
slow = half_sent(NGINX, SLOW)
try:
    time.sleep(0.5)  # nginx has accepted and read what they sent
    held = still_waiting(slow)
    print(f"\nthrough nginx, {SLOW} half-sent requests open ({held} still waiting):")
    results = series(NGINX, 10)
    show(results)
    held_after = still_waiting(slow)
finally:
    close(slow)
if held != SLOW or held_after != SLOW:
    failures.append(f"only {held}, then {held_after} of the {SLOW} slow sockets stayed open: "
                    "the check did not hold them during the measurement")
for label, runs in results.items():
    for status, seconds, data in runs:
        if status != 200 or seconds > BUDGET:
            failures.append(f"{label}: {status} in {seconds:.3f} s (budget {BUDGET} s): {data[:200]!r}")
worst = max(t for runs in results.values() for _, t, _ in runs)
print(f"  slowest: {worst * 1000:.1f} ms (budget {BUDGET * 1000:.0f} ms)")

# Contrast: the same requests with the half-sent ones straight at gunicorn (not asserted).
slow = half_sent(GUNICORN, SLOW)
try:
    time.sleep(0.5)
    asked = NORMAL * 3  # side by side: each waits at most CONTRAST seconds
    with ThreadPoolExecutor(max_workers=len(asked)) as pool:
        direct = list(pool.map(lambda n: timed(GUNICORN, n[1], n[2], n[3], CONTRAST), asked))
finally:
    close(slow)
print(f"\nstraight at gunicorn (2 workers x 8 threads), {SLOW} half-sent requests open:")
for label, *_ in NORMAL:
    shown = ", ".join(f"waited > {CONTRAST:.0f} s" if s is None else f"{s} in {t * 1000:.1f} ms"
                      for (name, *_), (s, t, _) in zip(asked, direct) if name == label)
    print(f"  {label}: {shown}")
stuck = sum(s is None for s, _, _ in direct)
print(f"  {stuck} of {len(direct)} normal requests had no answer within {CONTRAST:.0f} s")

if failures:
    sys.exit("FAILED:\n  " + "\n  ".join(failures))
print(f"\nok: through nginx every normal request answered 200 within {worst * 1000:.1f} ms "
      f"while {SLOW} half-sent requests were open")
PYEOF
  echo "-- nginx error log"; tail -20 "$WORK/nginx-error.log" || true
  echo "-- gunicorn log"; tail -30 "$WORK/gunicorn.log" || true
  exit 1
}
