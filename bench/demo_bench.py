"""`make bench`, part four: one row at one connection on every demo model (the single-row
p50 target holds for each of them, not only for the two of the main table).

`h` is the harness (bench/run.py: its server, load generator and request bodies)."""

import json
import time

DEMO_MODELS = ("iris", "wine", "breast-cancer", "diabetes", "credit-risk")


def demo_bench(seconds: float, token: str, h) -> str:
    from django.db import connection

    from predictor.models import Prediction
    from predictor.services.schema import example_record
    from predictor.services.serving import routing

    if connection.vendor == "postgresql":
        # The serving runs before this one logged about 1.7M rows in minutes; PostgreSQL's
        # autovacuum would otherwise be processing them (on the same 2 cores) while this
        # measures. A table written at a steady rate is vacuumed as it goes.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {Prediction._meta.db_table}")

    service = h.Server(
        "service-demo",
        h.gunicorn_args("mlsite.wsgi", h.SERVICE_PORT, "-c", "python:mlsite.gunicorn_conf"),
        h.SERVICE_PORT,
    )
    lines = [
        "| model | features | runtime | req/s | p50 ms | p99 ms | logged rows = answered |",
        "|---|---|---|---|---|---|---|",
    ]
    try:
        h.warm_up(token)
        for name in DEMO_MODELS:
            version = routing.version_resolve(model_name=name)
            body = json.dumps({"inputs": example_record(schema=version.schema)}).encode()
            tag = f"bench-demo-{name}"
            ours = h.load(
                f"http://127.0.0.1:{h.SERVICE_PORT}/api/models/{name}/predict/",
                body,
                {
                    "Content-Type": "application/json",
                    "Authorization": f"Token {token}",
                    "X-Request-ID": tag,
                },
                1,
                seconds,
            )
            time.sleep(0.5)
            logged = h.logged_rows(tag)
            ok = ours["requests"] <= logged <= ours["requests"] + 1 and not ours["non_2xx"]
            lines.append(
                f"| {name} | {len(version.schema)} | {version.runtime} | {ours['rps']:.0f} "
                f"| {ours['p50_ms']:.2f} | {ours['p99_ms']:.2f} "
                f"| {'yes' if ok else 'NO'} ({logged} logged, {ours['requests']} answered) |"
            )
            print(lines[-1], flush=True)
    finally:
        service.stop()
    return "\n".join(lines)
