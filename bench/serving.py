"""The serving benchmark (`make bench`, section "Serving"): the service and plain Flask on
iris and credit-risk, 1 and 1,000 rows a request, 1, 16 and 64 connections, beside raw
in-process predict; its table."""

import json
import statistics
import time
import urllib.request
from pathlib import Path

from bench.environment import WORK
from bench.load import load
from bench.servers import (
    FLASK_PORT,
    FLASK_THREADS,
    SERVICE_PORT,
    THREADS,
    WORKER_CLASS,
    WORKERS,
    Server,
    gunicorn_args,
)

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
    joblib.dump(runtime.pipeline_for(version=version), directory / "credit-risk")


def raw_predict(model: str, rows: int) -> dict:
    """In-process: the scikit-learn pipeline and the service's runtime, median of repeats."""
    from predictor.services.schema import rows_validate
    from predictor.services.serving import routing, runtime

    version = routing.version_resolve(model_name=model)
    names = version.feature_names
    row = dict(zip(names, IRIS_ROW)) if model == "iris" else CREDIT_ROW
    records = rows_validate(schema=version.schema, records=[row] * rows, max_rows=10**6).records
    sk = runtime.SklearnRuntime(
        runtime.pipeline_for(version=version), schema=version.schema, task=version.model.task
    )
    served = runtime.runtime_for(version=version)
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
        bodies_[name] = json.dumps({"inputs": example_record(schema=version.schema)}).encode()
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
