"""`make bench`, part five: the server's worker class (mlsite/gunicorn_worker.py) against
gunicorn's own gthread, the same service and settings otherwise, both servers up at once
and loaded in alternation (the machine's speed drifts within minutes).

`h` is the harness (bench/run.py: its server, load generator and request bodies)."""

import statistics
import time

ROUNDS = 4


def worker_bench(seconds: float, token: str, h) -> str:
    """The section of bench/RESULTS.md: its heading, what was run, the table."""
    body, _ = h.bodies("iris", 1)
    servers = {  # label: (port, what the command line adds to gunicorn_conf)
        "gthread (gunicorn's)": (h.SERVICE_PORT, ["--worker-class", "gthread"]),
        "LingeringThreadWorker (gunicorn_conf)": (h.SERVICE_PORT + 2, []),
    }
    started = [
        h.Server(
            f"service-worker-{port}",
            h.gunicorn_args("mlsite.wsgi", port, "-c", "python:mlsite.gunicorn_conf", *extra),
            port,
            # Each its own metrics directory (gunicorn_conf empties a given one at start).
            env={"PROMETHEUS_MULTIPROC_DIR": ""},
        )
        for port, extra in servers.values()
    ]
    runs = {(label, c): [] for label in servers for c in (1, 16)}
    try:
        for port, _ in servers.values():  # every thread loads the model first
            h.load(_url(h, port), body, _headers(token, "bench-worker-warm"), 16, 2)
        for round_ in range(ROUNDS):
            for connections in (1, 16):
                for label, (port, _) in servers.items():
                    tag = f"bench-worker-{round_}-{connections}-{port}"
                    result = h.load(
                        _url(h, port), body, _headers(token, tag), connections, seconds / 2
                    )
                    time.sleep(0.5)  # requests cut off at the end finish and are logged
                    result["logged"] = h.logged_rows(tag)
                    runs[(label, connections)].append(result)
                    print(label, connections, f"{result['rps']:.0f} req/s", flush=True)
    finally:
        for server in started:
            server.stop()
    lines = [
        "| worker | connections | req/s, median of runs | p50 ms, each run | p99 ms, each run "
        "| logged rows ≥ answered |",
        "|---|---|---|---|---|---|",
    ]
    for (label, connections), results in runs.items():
        p50s = ", ".join(f"{r['p50_ms']:.2f}" for r in results)
        p99s = ", ".join(f"{r['p99_ms']:.2f}" for r in results)
        logged = all(r["logged"] >= r["requests"] for r in results)
        lines.append(
            f"| {label} | {connections} | {statistics.median(r['rps'] for r in results):.0f} "
            f"| {p50s} | {p99s} | {'yes' if logged else 'NO'} |"
        )
    return (
        "## The server's worker class\n\niris, one row a request; the service under "
        "gunicorn's gthread and under this project's worker (`mlsite/gunicorn_worker.py`), "
        f"both up at once, loaded in alternation, {ROUNDS} runs of {seconds / 2:g} s each.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _url(h, port: int) -> str:
    return f"http://127.0.0.1:{port}/api/models/iris/predict/"


def _headers(token: str, tag: str) -> dict:
    return {
        "Content-Type": "application/json",
        "Authorization": f"Token {token}",
        "X-Request-ID": tag,
    }
