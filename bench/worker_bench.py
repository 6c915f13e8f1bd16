"""`make bench`, part five: the server's worker class (mlsite/gunicorn_worker.py) against
gunicorn's own gthread, and the threads per worker, for the service and for Flask. All the
servers are up at once and loaded in alternation (the machine's speed drifts within
minutes).

`h` is the harness (bench/run.py: its server, load generator and request bodies)."""

import statistics
import time

ROUNDS = 4
PORT = 8881  # the first of five


def worker_bench(seconds: float, token: str, h) -> str:
    """The section of bench/RESULTS.md: its heading, what was run, the tables."""
    servers = {  # label: (port, app, threads, what the command line adds)
        "service, gthread (gunicorn's)": (
            PORT,
            "service",
            h.THREADS,
            ["--worker-class", "gthread"],
        ),
        "service, LingeringThreadWorker": (PORT + 1, "service", h.THREADS, []),
        "service, LingeringThreadWorker, 4 threads": (PORT + 2, "service", 4, []),
        "Flask, LingeringThreadWorker, 4 threads": (PORT + 3, "flask", 4, []),
        "Flask, LingeringThreadWorker, 8 threads": (PORT + 4, "flask", 8, []),
    }
    models_dir = h.WORK / "flask-models"
    h.export_for_flask(models_dir)
    started = []
    for port, app, threads, extra in servers.values():
        args, env = _command(h, port, app, threads, extra, models_dir)
        started.append(h.Server(f"bench-{port}", args, port, env=env))
    plan = [  # (table, model, connections, the servers it compares)
        *((1, "iris", c, list(servers)[:2]) for c in (1, 16)),
        *((2, m, c, list(servers)[1:]) for m in ("iris", "credit-risk") for c in (16, 64)),
    ]
    runs = {(t, m, c, label): [] for t, m, c, labels in plan for label in labels}
    try:
        for model in ("iris", "credit-risk"):  # every thread loads the model first
            for port, app, _, _ in servers.values():
                h.load(*_request(h, token, port, app, model, "bench-worker-warm"), 16, 2)
        for round_ in range(ROUNDS):
            for table, model, connections, labels in plan:
                for label in labels:
                    port, app = servers[label][:2]
                    tag = f"bench-worker-{round_}-{table}-{model}-{connections}-{port}"
                    request = _request(h, token, port, app, model, tag)
                    result = h.load(*request, connections, seconds / 2)
                    time.sleep(0.5)  # requests cut off at the end finish and are logged
                    result["logged"] = h.logged_rows(tag) if app == "service" else None
                    runs[(table, model, connections, label)].append(result)
                    print(label, model, connections, f"{result['rps']:.0f} req/s", flush=True)
    finally:
        for server in started:
            server.stop()
    return (
        "## The server's worker class\n\niris, one row a request; the service under "
        "gunicorn's gthread and under this project's worker (`mlsite/gunicorn_worker.py`), "
        f"{h.THREADS} threads a worker (gunicorn_conf), all servers of this section up at once, "
        f"loaded in alternation, {ROUNDS} runs of {seconds / 2:g} s each.\n\n"
        + _table({k: v for k, v in runs.items() if k[0] == 1})
        + "\n\n## Threads per worker\n\nOne row a request, 2 workers, the project's worker "
        "class; the same servers and rounds as above.\n\n"
        + _table({k: v for k, v in runs.items() if k[0] == 2})
        + "\n"
    )


def _command(h, port, app, threads, extra, models_dir):
    if app == "service":
        args = h.gunicorn_args(
            "mlsite.wsgi", port, "-c", "python:mlsite.gunicorn_conf", *extra, threads=threads
        )
        # Each its own metrics directory (gunicorn_conf empties a given one at start).
        return args, {"PROMETHEUS_MULTIPROC_DIR": ""}
    args = h.gunicorn_args(
        "bench.flask_app:app", port, "--worker-class", h.WORKER_CLASS, threads=threads
    )
    return args, {"BENCH_MODELS_DIR": str(models_dir)}


def _request(h, token, port, app, model, tag):
    """url, body, headers"""
    body, flask_body = h.bodies(model, 1)
    if app == "flask":
        url = f"http://127.0.0.1:{port}/predict/{model}"
        return url, flask_body, {"Content-Type": "application/json"}
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Token {token}",
        "X-Request-ID": tag,
    }
    return f"http://127.0.0.1:{port}/api/models/{model}/predict/", body, headers


def _table(runs: dict) -> str:
    lines = [
        "| server | model | connections | req/s, median of runs | p50 ms, each run "
        "| p99 ms, each run | logged rows ≥ answered |",
        "|---|---|---|---|---|---|---|",
    ]
    for (_, model, connections, label), results in runs.items():
        p50s = ", ".join(f"{r['p50_ms']:.2f}" for r in results)
        p99s = ", ".join(f"{r['p99_ms']:.2f}" for r in results)
        if results[0]["logged"] is None:
            logged = "(Flask logs nothing)"
        else:
            logged = "yes" if all(r["logged"] >= r["requests"] for r in results) else "NO"
        lines.append(
            f"| {label} | {model} | {connections} "
            f"| {statistics.median(r['rps'] for r in results):.0f} | {p50s} | {p99s} | {logged} |"
        )
    return "\n".join(lines)
