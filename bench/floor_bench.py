"""`make bench`, part six: what the frameworks cost before any model. The service's server
(its settings, middleware and worker class; bench/floor_urls.py adds endpoints that read the
JSON body and answer without a model) and the Flask server, each endpoint loaded in turn at
16 connections, in alternation; the CPU time the server's worker processes spent, from
/proc, divided by the requests answered. This is the floor under the "× Flask" of one-row
requests: what any request through Django and DRF costs here before its work starts.

`h` is the harness (bench/run.py: its server, load generator and request bodies)."""

import os
import statistics
import subprocess
import time
from pathlib import Path

ROUNDS = 3
CONNECTIONS = 16
SERVICE_PORT, FLASK_PORT = 8891, 8892

# (server, path, what it does)
ENDPOINTS = [
    ("Flask", "/hello", "reads the JSON body, answers"),
    ("Flask", "/predict/iris", "reads the JSON body, LogisticRegression.predict, answers"),
    ("service", "/bench-floor/django/", "a Django view: reads the JSON body, answers"),
    ("service", "/bench-floor/drf/", "a DRF APIView: parses the body, renders the answer"),
    ("service", "/bench-floor/drf-token/", "the same, with the API's token check and throttle"),
    ("service", "/api/models/iris/predict/", "the prediction API: validated, predicted, logged"),
]


def floor_bench(seconds: float, token: str, h) -> str:
    models_dir = h.WORK / "flask-models"
    h.export_for_flask(models_dir)
    service = h.Server(
        "floor-service",
        h.gunicorn_args("mlsite.wsgi", SERVICE_PORT, "-c", "python:mlsite.gunicorn_conf"),
        SERVICE_PORT,
        env={"DJANGO_SETTINGS_MODULE": "bench.floor_settings", "PROMETHEUS_MULTIPROC_DIR": ""},
    )
    flask = h.Server(
        "floor-flask",
        h.gunicorn_args(
            "bench.flask_app:app",
            FLASK_PORT,
            "--worker-class",
            h.WORKER_CLASS,
            threads=h.FLASK_THREADS,
        ),
        FLASK_PORT,
        env={"BENCH_MODELS_DIR": str(models_dir)},
    )
    servers = {"service": service, "Flask": flask}
    runs = {endpoint: [] for endpoint in ENDPOINTS}
    try:
        for endpoint in ENDPOINTS:  # every thread loads what it needs first
            h.load(*_request(h, token, endpoint), CONNECTIONS, 2)
        for _ in range(ROUNDS):
            for endpoint in ENDPOINTS:
                workers = _workers(servers[endpoint[0]])
                before = _cpu_seconds(workers)
                result = h.load(*_request(h, token, endpoint), CONNECTIONS, seconds / 2)
                spent = sum(_cpu_seconds(workers).values()) - sum(before.values())
                result["cpu_ms"] = 1000.0 * spent / max(result["requests"], 1)
                runs[endpoint].append(result)
                print(endpoint[0], endpoint[1], f"{result['rps']:.0f} req/s", flush=True)
                time.sleep(0.5)
    finally:
        service.stop()
        flask.stop()
    return _section(runs, seconds, h)


def _request(h, token, endpoint):
    """url, body, headers"""
    server, path, _ = endpoint
    body, flask_body = h.bodies("iris", 1)
    if server == "Flask":
        return (
            f"http://127.0.0.1:{FLASK_PORT}{path}",
            flask_body,
            {"Content-Type": "application/json"},
        )
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    return f"http://127.0.0.1:{SERVICE_PORT}{path}", body, headers


def _workers(server) -> list[str]:
    return subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True
    ).stdout.split()


def _cpu_seconds(pids: list[str]) -> dict:
    """User and system CPU time of each process, in seconds."""
    tick, spent = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        spent[pid] = (int(fields[11]) + int(fields[12])) / tick
    return spent


def _section(runs: dict, seconds: float, h) -> str:
    flask_predict = statistics.median(r["rps"] for r in runs[ENDPOINTS[1]])
    lines = [
        "## What the frameworks cost\n",
        f"One iris row a request, {CONNECTIONS} connections, each endpoint in turn, "
        f"{ROUNDS} runs of {seconds / 2:g} s each; the service's server (its settings, "
        f"middleware and worker class, {h.WORKERS} workers × {h.THREADS} threads) and "
        f"Flask's ({h.WORKERS} workers × {h.FLASK_THREADS} threads). CPU: what the server's worker "
        "processes spent (user + system, from /proc) per request answered; PostgreSQL's "
        "own work for the prediction API is not in it.\n",
        "| server | endpoint | what it does | req/s, median of runs | worker CPU ms a request, "
        "median | × Flask's predict (req/s) | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for endpoint, results in runs.items():
        rps = statistics.median(r["rps"] for r in results)
        cpu = statistics.median(r["cpu_ms"] for r in results)
        bad = sum(r["non_2xx"] for r in results)
        lines.append(
            f"| {endpoint[0]} | `{endpoint[1]}` | {endpoint[2]} | {rps:.0f} | {cpu:.3f} "
            f"| {rps / max(flask_predict, 1e-9):.2f} | {bad} |"
        )
    return "\n".join(lines) + "\n"
