"""`make bench-log`, the data: a database of its own (named after DATABASE_URL's, with
`_logbench`), the users, and the log's rows and hourly aggregates seeded in SQL."""

import os
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from bench import harness as serving  # sets the production-like environment first

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
