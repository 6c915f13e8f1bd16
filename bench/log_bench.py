"""`make bench-log`: the prediction log at 1M and 10M rows on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlsite .venv/bin/python bench/log_bench.py \
        [--sizes 1000000,10000000] [--out bench/LOG-RESULTS.md]

Seeds rows with SQL (`generate_series`, 30 days, 100 users, three sources) in a database
named after DATABASE_URL's with `_logbench` appended (made anew), fills the hourly
aggregates from them with one SQL statement (what `rebuild_aggregates` computes, minus the
per-feature bins), then, against gunicorn as in production (bench/run.py's workers and
threads), prints with the row count beside each figure: the first page of the history API
(staff; each contract filter; a normal user), page 200 by cursor, the CSV export rate and
the serving process's memory growth, the history page with 30 days of charts, EXPLAIN of
every filter (no sequential scan of the log), and the longest wait of a 16-connection load
while `prune_predictions` removes 1M rows.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import run as serving  # noqa: E402  (sets the production-like environment)

PORT = 8873
DAYS = 30
USERS = 100


def database_url() -> str:
    given = os.environ.get("MLSITE_BENCH_SOURCE_URL") or os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        sys.exit("bench-log needs PostgreSQL: set DATABASE_URL=postgres://… (see README)")
    parts = urlsplit(given)
    name = (parts.path.lstrip("/") or "mlsite").removesuffix("_bench")
    return urlunsplit(parts._replace(path=f"/{name}_logbench"))


URL = database_url()
os.environ["DATABASE_URL"] = URL
serving.ENV["DATABASE_URL"] = URL


def sql(statement: str, params=None, fetch=False):
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if fetch else None


def fresh_database() -> None:
    import psycopg

    parts = urlsplit(URL)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    serving.manage("migrate", "--noinput", "-v0")
    serving.manage("load_demo", quiet=True)


def setup_users() -> tuple[str, str, str]:
    """(staff token, normal user token, normal user's session cookie for pages)."""
    serving.django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    users = [User.objects.get_or_create(username=f"user{i:03d}")[0] for i in range(USERS)]
    session = SessionStore()
    session["_auth_user_id"] = str(staff.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = staff.get_session_auth_hash()
    session.create()
    return (
        Token.objects.get_or_create(user=staff)[0].key,
        Token.objects.get_or_create(user=users[7])[0].key,
        session.session_key,
    )


def seed(rows: int, already: int) -> float:
    """Add rows up to `rows`, spread evenly over the last 30 days (newest now)."""
    started = time.perf_counter()
    user_ids = [
        r[0]
        for r in sql(
            "SELECT id FROM auth_user WHERE username LIKE 'user%%' ORDER BY id", fetch=True
        )
    ]
    ids = dict(
        (name, (m, v))
        for name, m, v in sql(
            "SELECT m.name, m.id, v.id FROM predictor_registeredmodel m JOIN "
            "predictor_modelversion v ON v.model_id = m.id AND v.stage = 'production' "
            "WHERE m.name IN ('iris', 'credit-risk')",
            fetch=True,
        )
    )
    (model_id, version_id), (other_model, other_version) = ids["iris"], ids["credit-risk"]
    step = DAYS * 86400.0 / rows
    sql(
        """
        INSERT INTO predictor_prediction (model_id, version_id, inputs, output, probabilities,
            source, user_id, latency_ms, request_id, created_at, sealed)
        SELECT CASE WHEN i %% 5 = 0 THEN %(other_model)s ELSE %(model)s END,
            CASE WHEN i %% 5 = 0 THEN %(other_version)s ELSE %(version)s END,
            jsonb_build_object('sepal_length', 4.3 + (i %% 36) / 10.0, 'sepal_width', 2.0 + (i %% 24) / 10.0,
                               'petal_length', 1.0 + (i %% 59) / 10.0, 'petal_width', 0.1 + (i %% 25) / 10.0),
            to_jsonb((ARRAY['setosa', 'versicolor', 'virginica'])[1 + i %% 3]),
            '{"setosa": 0.8, "versicolor": 0.15, "virginica": 0.05}'::jsonb,
            (ARRAY['api', 'api', 'api', 'v2', 'web', 'batch'])[1 + i %% 6],
            (%(users)s::bigint[])[1 + (i / 7) %% %(n_users)s],
            1.0 + (i %% 50) / 10.0, 'bench-' || (i / 7), now() - make_interval(secs => (%(rows)s - i) * %(step)s), ''
        FROM generate_series(%(start)s, %(rows)s - 1) AS i
        """,
        {
            "model": model_id,
            "version": version_id,
            "other_model": other_model,
            "other_version": other_version,
            "users": user_ids,
            "n_users": len(user_ids),
            "rows": rows,
            "start": already,
            "step": step,
        },
    )
    # What rebuild_aggregates computes (per-feature bins aside), in SQL.
    sql("DELETE FROM predictor_predictionhour")
    sql(
        "CREATE OR REPLACE AGGREGATE mlsite_json_sum(jsonb) "
        "(SFUNC = mlsite_json_add, STYPE = jsonb, INITCOND = '{}')"
    )
    sql(
        """
        INSERT INTO predictor_predictionhour (hour, model_id, version_id, source, user_key,
            predictions, requests, latency_ms_sum, latency, outputs, output_sum, output_sumsq,
            features, labelled, correct, abs_error_sum, sq_error_sum)
        SELECT hour, model_id, version_id, source, user_key, sum(n), sum(n), sum(ms), '{}'::jsonb,
            jsonb_object_agg(output, n), 0, 0, '{}'::jsonb, 0, 0, 0, 0
        FROM (SELECT date_trunc('hour', created_at) AS hour, model_id, version_id, source,
                     coalesce(user_id, 0) AS user_key, output #>> '{}' AS output,
                     count(*) AS n, sum(latency_ms) AS ms
              FROM predictor_prediction GROUP BY 1, 2, 3, 4, 5, 6) g
        GROUP BY 1, 2, 3, 4, 5
        """
    )
    # ... and the rows that add up all users (user_key -1).
    sql(
        """
        INSERT INTO predictor_predictionhour (hour, model_id, version_id, source, user_key,
            predictions, requests, latency_ms_sum, latency, outputs, output_sum, output_sumsq,
            features, labelled, correct, abs_error_sum, sq_error_sum)
        SELECT hour, model_id, version_id, source, -1, sum(predictions), sum(requests),
            sum(latency_ms_sum), '{}'::jsonb, mlsite_json_sum(outputs), 0, 0, '{}'::jsonb, 0, 0, 0, 0
        FROM predictor_predictionhour GROUP BY 1, 2, 3, 4
        """
    )
    sql("VACUUM ANALYZE predictor_prediction")
    sql("VACUUM ANALYZE predictor_predictionhour")
    return time.perf_counter() - started


def get(path: str, headers: dict) -> tuple[float, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000.0, body


def p50(path: str, headers: dict, repeat: int = 21) -> float:
    get(path, headers)  # warm
    return statistics.median(get(path, headers)[0] for _ in range(repeat))


def page_200(headers: dict) -> tuple[str, float]:
    import json

    path = "/api/predictions/?page_size=50"
    for _ in range(199):
        _, body = get(path, headers)
        path = json.loads(body)["next"].split(f":{PORT}", 1)[1]
    return path, p50(path, headers)


def export_rate(path: str, headers: dict, server) -> tuple[int, float, float]:
    """(rows, rows/s, growth of the largest worker's RSS in MB)."""
    before = max(server.worker_rss_mb())
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers=headers)
    peak, done = [before], threading.Event()

    def watch():  # RSS sampled beside the download, not between its reads
        while not done.wait(0.25):
            peak[0] = max(peak[0], max(server.worker_rss_mb()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    started, lines = time.perf_counter(), 0
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            while chunk := response.read(1 << 20):
                lines += chunk.count(b"\n")
    finally:
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
    return lines - 1, (lines - 1) / seconds, peak[0] - before


def explain_all() -> list[tuple[str, bool, str]]:
    """EXPLAIN of the first page of every contract filter (staff and a normal user)."""
    serving.django_setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from predictor import selectors
    from predictor.filters import PredictionFilter

    User = get_user_model()
    staff, user = User.objects.get(username="bench-staff"), User.objects.get(username="user007")
    week = (timezone.now() - timedelta(days=7)).isoformat()
    day = (timezone.now() - timedelta(days=1)).isoformat()
    cases = [
        ("staff", staff, {}),
        ("staff", staff, {"model": "iris"}),
        ("staff", staff, {"model": "credit-risk"}),
        ("staff", staff, {"model": "iris", "version": "1"}),
        ("staff", staff, {"version": "1"}),
        ("staff", staff, {"source": "web"}),
        ("staff", staff, {"since": week}),
        ("staff", staff, {"since": week, "until": day}),
        ("staff", staff, {"model": "credit-risk", "source": "v2", "since": week}),
        ("user", user, {}),
        ("user", user, {"model": "iris", "since": week}),
        ("user", user, {"model": "credit-risk"}),
        ("user", user, {"source": "batch"}),
    ]
    out = []
    for who, person, query in cases:
        named = {
            k: ("7 days ago" if v == week else "1 day ago" if v == day else v)
            for k, v in query.items()
        }
        qs = PredictionFilter(query, queryset=selectors.predictions_visible_to(person)).qs
        sql_text, params = qs.order_by("-created_at", "-id")[:51].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql_text, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
        seq = "Seq Scan on predictor_prediction" in plan
        index = next(
            (ln.strip(" ->") for ln in plan.splitlines() if " on predictor_prediction" in ln), ""
        )
        label = " & ".join(f"{k}={v}" for k, v in named.items()) or "(no filter)"
        out.append((f"{who}: {label}", seq, index))
    return out


def prune_under_load(token: str, rows: int) -> dict:
    """Prune the oldest 1M rows while wrk sends 16 connections of single predictions."""
    # Whole days back to the millionth-oldest row: pruning them removes at least 1M rows.
    age = sql(
        "SELECT extract(epoch FROM now() - created_at) FROM predictor_prediction "
        "ORDER BY created_at OFFSET 1000000 LIMIT 1",
        fetch=True,
    )[0][0]
    cutoff_days = int(float(age) // 86400)
    body = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    result = {}

    def load():
        result.update(
            wrk_with_max(f"http://127.0.0.1:{PORT}/api/models/iris/predict/", body, headers, 40)
        )

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(3)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "manage.py", "prune_predictions", "--older-than", str(cutoff_days)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": URL},
    )
    result["prune_seconds"] = time.perf_counter() - started
    result["prune_output"] = (out.stdout + out.stderr).strip().splitlines()[-1:]
    thread.join()
    return result


def wrk_with_max(url, body, headers, seconds) -> dict:
    script = serving.WORK / "prune.lua"
    (serving.WORK / "prune.json").write_bytes(body)
    lines = [
        'wrk.method = "POST"',
        f'local f = io.open("{serving.WORK / "prune.json"}", "rb"); wrk.body = f:read("*a"); f:close()',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    text = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
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

    def ms(value):
        for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
            if value.endswith(unit):
                return float(value[: -len(unit)]) * factor
        return float("nan")

    latency = next(ln for ln in text.splitlines() if ln.strip().startswith("Latency")).split()
    non_2xx = sum(int(ln.split()[-1]) for ln in text.splitlines() if "Non-2xx" in ln)
    rps = float(next(ln for ln in text.splitlines() if ln.startswith("Requests/sec")).split()[1])
    p99 = next(ln for ln in text.splitlines() if ln.strip().startswith("99%")).split()[1]
    return {"max_ms": ms(latency[3]), "p99_ms": ms(p99), "rps": rps, "non_2xx": non_2xx}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--out", default=str(ROOT / "bench" / "LOG-RESULTS.md"))
    parser.add_argument("--no-prune", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    fresh_database()
    staff_token, user_token, session = setup_users()
    staff = {"Authorization": f"Token {staff_token}"}
    user = {"Authorization": f"Token {user_token}"}
    week = time.time() - 7 * 86400
    week_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(week))
    day_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 86400))
    report = [
        "# The prediction log at scale (`make bench-log`)",
        "",
        f"Machine: {serving.machine()}",
        f"PostgreSQL, gunicorn {serving.WORKERS} workers × {serving.THREADS} threads, "
        f"production settings; rows spread over {DAYS} days, {USERS} users. p50 of 21 requests.",
        "",
    ]
    already = 0
    for rows in sizes:
        seeded = seed(rows, already)
        already = rows
        print(f"seeded {rows:,} rows in {seeded:.0f} s", flush=True)
        server = serving.Server(
            "logbench",
            serving.gunicorn_args("mlsite.wsgi", PORT, "-c", "python:mlsite.gunicorn_conf"),
            PORT,
        )
        try:
            figures = []

            def measure(label, path, headers, figures=figures, rows=rows):
                value = p50(path, headers)
                figures.append((label, value))
                print(f"{rows:>11,} rows  {label:<58} p50 {value:8.1f} ms", flush=True)

            measure("first page, staff, no filter", "/api/predictions/", staff)
            measure("first page, staff, ?model=iris", "/api/predictions/?model=iris", staff)
            measure(
                "first page, staff, ?model=iris&version=1",
                "/api/predictions/?model=iris&version=1",
                staff,
            )
            measure("first page, staff, ?source=web", "/api/predictions/?source=web", staff)
            measure(
                "first page, staff, ?since=7 days ago",
                "/api/predictions/?" + urlencode({"since": week_iso}),
                staff,
            )
            measure(
                "first page, staff, ?since=7 days&until=1 day ago",
                "/api/predictions/?" + urlencode({"since": week_iso, "until": day_iso}),
                staff,
            )
            measure("first page, normal user, no filter", "/api/predictions/", user)
            measure(
                "first page, normal user, ?model=iris&since=7 days ago",
                "/api/predictions/?" + urlencode({"model": "iris", "since": week_iso}),
                user,
            )
            path, value = page_200(staff)
            figures.append(("page 200 by cursor, staff", value))
            first = figures[0][1]
            print(f"{rows:>11,} rows  {'page 200 by cursor, staff':<58} p50 {value:8.1f} ms "
                  f"({value / first:.2f}× the first page)", flush=True)  # fmt: skip
            history = {"Cookie": f"sessionid={session}"}
            measure("history page (staff, 30 days of charts)", "/history/", history)
            measure(
                "history page, ?model=iris",
                "/history/?model=iris",
                history,
            )
            month_iso = time.strftime(
                "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - DAYS * 86400 - 60)
            )
            measure(
                "monitoring, iris, default window (last 24 h)",
                "/api/models/iris/monitoring/",
                staff,
            )
            measure(
                "monitoring, iris, every row (30 days, mid-hour ends)",
                "/api/models/iris/monitoring/?" + urlencode({"since": month_iso, "bucket": "day"}),
                staff,
            )
            exports = []
            for label, path in (
                ("export, staff, last 24 hours, ?model=iris", "/api/predictions/?" + urlencode({"format": "csv", "model": "iris", "since": day_iso})),
                ("export, staff, everything (inputs as JSON)", "/api/predictions/?format=csv"),
            ):  # fmt: skip
                if "everything" in label and rows > 1_000_000:
                    path += "&" + urlencode(
                        {
                            "since": time.strftime(
                                "%Y-%m-%dT%H:%M:%S+00:00",
                                time.gmtime(time.time() - DAYS * 86400 * 1_000_000 / rows),
                            )
                        }
                    )
                    label = "export, staff, newest 1M rows (inputs as JSON)"
                n, rate, growth = export_rate(path, staff, server)
                exports.append((label, n, rate, growth))
                print(f"{rows:>11,} rows  {label:<58} {n:,} rows at {rate:,.0f} rows/s, "
                      f"RSS +{growth:.0f} MB", flush=True)  # fmt: skip
            prune = None
            if not args.no_prune and rows == sizes[-1] and rows > 1_000_000:
                prune = prune_under_load(staff_token, rows)
                print(f"{rows:>11,} rows  prune 1M under 16-connection load: {prune}", flush=True)
        finally:
            server.stop()
        plans = explain_all()
        for label, seq, index in plans:
            print(
                f"{rows:>11,} rows  EXPLAIN {label:<50} {'SEQ SCAN' if seq else 'index'}: {index}"
            )

        report += [
            f"## {rows:,} rows",
            "",
            "| request | rows in the log | p50 |",
            "|---|---:|---:|",
        ]
        report += [f"| {label} | {rows:,} | {value:.1f} ms |" for label, value in figures]
        report += ["", "| export | rows exported | rows/s | RSS growth |", "|---|---:|---:|---:|"]
        report += [f"| {lb} | {n:,} | {rate:,.0f} | {g:.0f} MB |" for lb, n, rate, g in exports]
        report += ["", "| EXPLAIN of the first page | plan |", "|---|---|"]
        report += [f"| {lb} | {'**sequential scan**' if seq else ix} |" for lb, seq, ix in plans]
        if prune:
            report += [
                "",
                f"Pruning 1,000,000 rows took {prune['prune_seconds']:.1f} s "
                f"({' '.join(prune['prune_output'])}) while wrk sent single predictions on 16 "
                f"connections: {prune['rps']:.0f} req/s, p99 {prune['p99_ms']:.0f} ms, longest "
                f"wait {prune['max_ms']:.0f} ms, {prune['non_2xx']} non-2xx.",
            ]
        report.append("")
    Path(args.out).write_text("\n".join(report))
    print(f"wrote {args.out} ({platform.node()})")


if __name__ == "__main__":
    main()
