"""PostgreSQL: the prediction log's INSERT is prepared once per connection and reused; no
other statement is prepared (Django's queries bind on the client)."""

import json
import os
import subprocess
import sys

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from predictor.models import Prediction
from predictor.services.log import writer

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)

URL = "/api/models/iris/predict/"


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def prepared(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return cursor.fetchall()


def test_the_log_insert_is_prepared_once_and_reused(iris_version, alice_client):
    answered = []
    for i in range(3):
        response = post(alice_client, URL, {"data": [[5.1, 3.5, 1.4 + i, 0.2]]})
        assert response.status_code == 200, response.content
        answered += response.json()["prediction_ids"]
    statements = prepared(writer._alias())
    inserts = [(sql, runs) for sql, runs in statements if '"predictor_prediction" ' in sql]
    assert len(inserts) == 1, statements
    sql, runs = inserts[0]
    assert sql.startswith(("INSERT", "WITH")) and runs == 3
    stored = Prediction.objects.filter(pk__in=answered).order_by("pk")
    assert [p.inputs["petal_length"] for p in stored] == [1.4, 2.4, 3.4]
    # Nothing else was prepared: the token, version and page queries of Django's ORM.
    for alias in {writer._alias(), DEFAULT_DB_ALIAS}:
        others = [sql for sql, _ in prepared(alias) if '"predictor_prediction" ' not in sql]
        assert others == []


def test_a_failed_log_write_leaves_the_prepared_insert_usable(
    transactional_db, iris_version, alice_client
):
    assert post(alice_client, URL, {"data": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200
    log = connections[writer._alias()]
    with log.cursor() as cursor:  # the next INSERT fails on a check the table now has
        cursor.execute(
            "ALTER TABLE predictor_prediction ADD CONSTRAINT no_long_ids "
            "CHECK (length(request_id) < 8) NOT VALID"
        )
    refused = post(alice_client, URL, {"data": [[5.1, 3.5, 1.4, 0.2]]}, HTTP_X_REQUEST_ID="x" * 9)
    assert refused.status_code == 503, refused.content
    assert "could not be logged" in refused.json()["detail"]
    with log.cursor() as cursor:
        cursor.execute("ALTER TABLE predictor_prediction DROP CONSTRAINT no_long_ids")
    served = post(alice_client, URL, {"data": [[5.1, 3.5, 1.4, 0.2]]}, HTTP_X_REQUEST_ID="y" * 9)
    assert served.status_code == 200, served.content
    assert Prediction.objects.filter(request_id="x" * 9).count() == 0
    assert Prediction.objects.filter(pk__in=served.json()["prediction_ids"]).count() == 1


def test_with_prepared_statements_off_the_log_is_written_unprepared(iris_version, alice_client):
    """PREDICTION_LOG_PREPARED=false leaves the connection's prepare_threshold unset."""
    log = connections[writer._alias()]
    log.ensure_connection()
    before = prepared(writer._alias())
    threshold, log.connection.prepare_threshold = log.connection.prepare_threshold, None
    try:
        response = post(alice_client, URL, {"data": [[5.1, 3.5, 1.4, 0.2]]})
    finally:
        log.connection.prepare_threshold = threshold
    assert response.status_code == 200, response.content
    assert Prediction.objects.filter(pk__in=response.json()["prediction_ids"]).count() == 1
    assert prepared(writer._alias()) == before  # nothing prepared, nothing run prepared


@pytest.mark.parametrize("value, threshold", [("true", 2**31 - 1), ("false", None)])
def test_the_setting_decides_whether_connections_may_prepare(value, threshold):
    probe = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlsite.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:5432/nothing",
        "PREDICTION_LOG_PREPARED": value,
    }
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {probe}"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(threshold)
