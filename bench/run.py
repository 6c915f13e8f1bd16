"""`make bench`: the service as the README runs it in production, beside plain Flask and raw
in-process predict, under the same load generator; one table of figures.

    .venv/bin/python bench/run.py [--seconds 8] [--only serve,...,floor] [--out bench/RESULTS.md]

On SQLite by default (a throw-away file); on PostgreSQL when DATABASE_URL says so (a
database named after it with `_bench` appended, dropped and made anew; the one you name is
not touched). wrk is used when installed, else bench/loadgen.py.
"""

import argparse
import importlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlsite import gunicorn_conf  # noqa: E402 (the project's root is on the path first)

WORK = Path(tempfile.mkdtemp(prefix="mlsite-bench-"))
SERVICE_PORT, FLASK_PORT = 8871, 8872
WORKERS, THREADS = 2, gunicorn_conf.threads  # the service as the README runs it
WORKER_CLASS = gunicorn_conf.worker_class  # Flask's server is the service's
FLASK_THREADS = 4  # 8 made Flask no faster overall (bench/worker_bench.py)


def bench_database_url() -> str:
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{WORK / 'bench.sqlite3'}"
    parts = urlsplit(given)
    name = parts.path.lstrip("/") or "mlsite"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-" + os.urandom(24).hex(),
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DATABASE_URL": bench_database_url(),
    "MEDIA_ROOT": str(WORK / "media"),
    "THROTTLE_ANON": "100000000/minute",
    "THROTTLE_USER": "100000000/minute",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlsite.settings")


def prepare_database() -> None:
    url = ENV["DATABASE_URL"]
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        name = parts.path.lstrip("/")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0")
    manage("load_demo", quiet=True)
    if (ROOT / "predictor/management/commands/compile_models.py").exists():
        manage("compile_models", quiet=True)


def manage(*args, quiet=False):
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def django_setup():
    import django

    django.setup()


# --- servers ------------------------------------------------------------------------------


class Server:
    def __init__(self, name, args, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=open(WORK / f"{name}.log", "w"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{name} did not start; see {WORK / (name + '.log')}")

    def worker_rss_mb(self) -> list[float]:
        children = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        sizes = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def gunicorn_args(app, port, *extra, threads=THREADS):
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *extra,
    ]


# --- load ---------------------------------------------------------------------------------


def load(url, body: bytes, headers: dict, connections: int, seconds: float) -> dict:
    if shutil.which("wrk"):
        return wrk(url, body, headers, connections, seconds)
    from bench import loadgen

    return loadgen.run(url, body, headers, connections, seconds)


def wrk(url, body, headers, connections, seconds) -> dict:
    script = WORK / "post.lua"
    (WORK / "body.json").write_bytes(body)
    lines = [
        'wrk.method = "POST"',
        f'local f = io.open("{WORK / "body.json"}", "rb"); wrk.body = f:read("*a"); f:close()',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{int(round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label):
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == label:
                value = parts[1]
                for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
                    if value.endswith(unit):
                        return float(value[: -len(unit)]) * factor
        return float("nan")

    requests = int(next(ln for ln in out.splitlines() if " requests in " in ln).split()[0])
    non_2xx = 0
    for line in out.splitlines():
        if "Non-2xx" in line:
            non_2xx = int(line.split()[-1])
    rps = float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")).split()[1])
    return {
        "requests": requests - non_2xx,
        "non_2xx": non_2xx,
        "rps": rps,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
    }


# --- the serving benchmark ------------------------------------------------------------------

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
CREDIT_ROW = {
    "age": 41.0,
    "income": 32000.0,
    "loan_amount": 7500.0,
    "duration_months": 24.0,
    "housing": "rent",
    "purpose": "car",
    "employment": "employed",
}
CASES = [
    # (model, label)
    ("iris", "iris LR"),
    ("credit-risk", "credit-risk RF 100 trees"),
]


def bodies(model: str, rows: int) -> tuple[bytes, bytes]:
    """The service's body and Flask's body for `rows` rows."""
    if model == "iris":
        data = [IRIS_ROW] * rows
        return json.dumps({"data": data}).encode(), json.dumps({"data": data}).encode()
    records = [CREDIT_ROW] * rows
    body = json.dumps({"inputs": records}).encode()
    return body, body


def export_for_flask(directory: Path) -> None:
    """iris: a bare LogisticRegression on the numbers; credit-risk: the service's pipeline."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from predictor.services.serving import routing, runtime

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=2000).fit(X, y), directory / "iris")
    version = routing.version_resolve(model_name="credit-risk")
    joblib.dump(runtime.pipeline_for(version), directory / "credit-risk")


def raw_predict(model: str, rows: int) -> dict:
    """In-process: the scikit-learn pipeline and the service's runtime, median of repeats."""
    from predictor.services.schema import rows_validate
    from predictor.services.serving import routing, runtime

    version = routing.version_resolve(model_name=model)
    names = version.feature_names
    row = dict(zip(names, IRIS_ROW)) if model == "iris" else CREDIT_ROW
    records = rows_validate(schema=version.schema, records=[row] * rows, max_rows=10**6).records
    sk = runtime.SklearnRuntime(
        runtime.pipeline_for(version), schema=version.schema, task=version.model.task
    )
    served = runtime.runtime_for(version)
    out = {}
    for label, rt in (("sklearn", sk), (served.kind, served)):
        repeats = 200 if rows == 1 else 20
        rt.predict(records)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            rt.predict(records)
            times.append(time.perf_counter() - started)
        out[label] = statistics.median(times) * 1000
    return out


def logged_rows(tag: str) -> int:
    from predictor.models import Prediction

    return Prediction.objects.filter(request_id=tag).count()


def warm_up(token: str) -> None:
    """Every worker thread loads every demo model before anything is measured."""
    from predictor.services.schema import example_record
    from predictor.services.serving import routing

    bodies_ = {}
    for name in ("iris", "wine", "breast-cancer", "diabetes", "credit-risk"):
        version = routing.version_resolve(model_name=name)
        bodies_[name] = json.dumps({"inputs": example_record(version.schema)}).encode()
    for _ in range(4 * WORKERS * THREADS):
        for name, body in bodies_.items():
            req = urllib.request.Request(
                f"http://127.0.0.1:{SERVICE_PORT}/api/models/{name}/predict/",
                data=body,
                headers={
                    "Authorization": f"Token {token}",
                    "Content-Type": "application/json",
                    "X-Request-ID": "bench-warm-up",
                },
            )
            urllib.request.urlopen(req, timeout=30).read()


def serve_bench(seconds: float, token: str) -> tuple[list[dict], dict]:
    models_dir = WORK / "flask-models"
    export_for_flask(models_dir)
    service = Server(
        "service",
        gunicorn_args("mlsite.wsgi", SERVICE_PORT, "-c", "python:mlsite.gunicorn_conf"),
        SERVICE_PORT,
    )
    flask = Server(
        "flask",
        gunicorn_args(
            "bench.flask_app:app", FLASK_PORT, "--worker-class", WORKER_CLASS, threads=FLASK_THREADS
        ),
        FLASK_PORT,
        env={"BENCH_MODELS_DIR": str(models_dir)},
    )
    results, run = [], 0
    try:
        warm_up(token)
        for model, label in CASES:
            for rows in (1, 1000):
                body, flask_body = bodies(model, rows)
                raw = raw_predict(model, rows)
                for connections in (1, 16, 64):
                    run += 1
                    tag = f"bench-{run}"
                    ours = load(
                        f"http://127.0.0.1:{SERVICE_PORT}/api/models/{model}/predict/",
                        body,
                        {
                            "Content-Type": "application/json",
                            "Authorization": f"Token {token}",
                            "X-Request-ID": tag,
                        },
                        connections,
                        seconds,
                    )
                    time.sleep(0.5)  # requests cut off at the end finish and are logged
                    ours["logged"] = logged_rows(tag)
                    theirs = load(
                        f"http://127.0.0.1:{FLASK_PORT}/predict/{model}",
                        flask_body,
                        {"Content-Type": "application/json"},
                        connections,
                        seconds,
                    )
                    results.append(
                        {
                            "model": label,
                            "rows": rows,
                            "connections": connections,
                            "service": ours,
                            "flask": theirs,
                            "raw": raw,
                        }
                    )
                    print_row(results[-1])
        rss = {"service": service.worker_rss_mb(), "flask": flask.worker_rss_mb()}
    finally:
        service.stop()
        flask.stop()
    return results, rss


def print_row(r):
    ours, theirs, raw = r["service"], r["flask"], r["raw"]
    answered_rows = ours["requests"] * r["rows"]
    fastest_raw = min(raw.values())
    print(
        f"{r['model']:<26} {r['rows']:>5} rows  c={r['connections']:<3} "
        f"service {ours['rps']:8.1f} req/s p50 {ours['p50_ms']:7.2f} p99 {ours['p99_ms']:7.2f} | "
        f"flask {theirs['rps']:8.1f} req/s p50 {theirs['p50_ms']:7.2f} | "
        f"×flask {ours['rps'] / max(theirs['rps'], 1e-9):5.2f} | "
        f"raw {fastest_raw:.3f} ms | logged {ours['logged']} / answered {answered_rows}",
        flush=True,
    )


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, "
        f"Python {platform.python_version()}, "
        f"{'PostgreSQL' if ENV['DATABASE_URL'].startswith('postgres') else 'SQLite'}, "
        f"load generator: {'wrk' if shutil.which('wrk') else 'bench/loadgen.py'}"
    )


def serve_table(results, rss) -> str:
    lines = [
        "| model | rows/request | connections | service req/s | p50 ms | p99 ms | Flask req/s "
        "| Flask p50 ms | × Flask | raw sklearn ms | raw served ms | logged rows = answered |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ours, theirs, raw = r["service"], r["flask"], r["raw"]
        answered = ours["requests"] * r["rows"]
        in_flight = r["connections"] * r["rows"]
        ok = answered <= ours["logged"] <= answered + in_flight and not ours["non_2xx"]
        served = next((v for k, v in raw.items() if k != "sklearn"), raw["sklearn"])
        lines.append(
            f"| {r['model']} | {r['rows']} | {r['connections']} | {ours['rps']:.0f} "
            f"| {ours['p50_ms']:.2f} | {ours['p99_ms']:.2f} | {theirs['rps']:.0f} "
            f"| {theirs['p50_ms']:.2f} | {ours['rps'] / max(theirs['rps'], 1e-9):.2f} "
            f"| {raw['sklearn']:.3f} | {served:.3f} "
            f"| {'yes' if ok else 'NO'} ({ours['logged']} logged, {answered} answered) |"
        )
    lines.append("")
    lines.append(
        "RSS per server process after the runs (MB): service "
        + ", ".join(f"{x:.0f}" for x in rss["service"])
        + "; Flask "
        + ", ".join(f"{x:.0f}" for x in rss["flask"])
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    parser.add_argument("--only", default="serve,demo,shadow,job,worker,floor")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"mlsite bench on {machine()}; work dir {WORK}", flush=True)
    prepare_database()
    django_setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("bench", password=os.urandom(8).hex())
    token = Token.objects.create(user=user).key
    sections = [
        f"# Benchmark results\n\nMachine: {machine()}.\n"
        f"Service: gunicorn {WORKERS} workers × {THREADS} threads, production settings "
        f"(README), every prediction logged; Flask: {WORKERS} workers × {FLASK_THREADS} "
        'threads (8 made it no faster overall, see "Threads per worker"), the same worker class, '
        f"no logging, no validation, no token. {args.seconds:g} s per run.\n"
    ]
    if "serve" in parts:
        results, rss = serve_bench(args.seconds, token)
        table = serve_table(results, rss)
        print(table)
        sections.append("## Serving\n\n" + table + "\n")
    if "demo" in parts:
        from bench.demo_bench import demo_bench

        table = demo_bench(args.seconds, token, sys.modules[__name__])
        sections.append(
            "## Every demo model, one row, one connection\n\n(On PostgreSQL, after `VACUUM (ANALYZE)` of the log the runs above filled.)\n\n"
            + table
            + "\n"
        )
    if "shadow" in parts:
        from bench.shadow_bench import shadow_bench

        table = shadow_bench(args.seconds, token, sys.modules[__name__])
        sections.append(
            "## A shadow version's cost\n\niris, one row a request; the shadow (k-nearest "
            "neighbours) predicts the same rows in a background thread of each worker after "
            "the answer is logged.\n\n" + table + "\n"
        )
    if "job" in parts:
        from bench.job_bench import job_bench

        table = job_bench(args.seconds, token, sys.modules[__name__])
        sections.append(
            "## Serving while a job trains\n\niris, one row a request, before and while a "
            "random forest of 2,000 trees (5-fold) trains in `manage.py run_worker` beside the "
            "server on the same 2 cores.\n\n" + table + "\n"
        )
    for part in ("worker", "floor"):  # sections that write their own heading and text
        if part in parts:
            section = getattr(importlib.import_module(f"bench.{part}_bench"), f"{part}_bench")
            sections.append(section(args.seconds, token, sys.modules[__name__]))
    Path(args.out).write_text("\n".join(sections))
    print(f"written to {args.out}")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
