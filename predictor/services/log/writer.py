"""Writing the prediction log: the rows of one model call and their hourly aggregates.

The hot path of every prediction ends here, so the rows go in as one multi-row INSERT
written here rather than through the ORM's `bulk_create`, and the aggregates as one upsert
of the keys the rows touch. On PostgreSQL both are one statement (the upsert a CTE of the
INSERT): one round trip, its own transaction, no model instances, no BEGIN; it uses the
"log" connection when settings define one (commits that do not wait for the disk, see
settings.py). SQLite runs the two statements in one transaction. By default the aggregates
are not in that statement but added by this process a moment later (`deferred`).
"""

import json
import logging

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from mlsite import perf
from predictor.models import Prediction
from predictor.services.errors import ServiceUnavailable
from predictor.services.log import aggregates, deferred

log = logging.getLogger(__name__)

COLUMNS = (
    "model_id",
    "version_id",
    "inputs",
    "output",
    "probabilities",
    "source",
    "user_id",
    "latency_ms",
    "request_id",
    "sealed",
    "shadow_of",
    # No feedback yet (the column has no database default: a raw INSERT names it).
    "actual_source",
    "created_at",
)


def _alias() -> str:
    return "log" if "log" in connections.databases else DEFAULT_DB_ALIAS


def _row(row: dict) -> list:
    return [
        row["model_id"],
        row["version_id"],
        row["inputs"],
        row["output"],
        row["probabilities"],
        row["source"],
        row["user_id"],
        row["latency_ms"],
        row["request_id"],
        row.get("sealed", ""),
        row.get("shadow_of"),
        "",
    ]


def _postgresql(connection, rows: list[dict], created_at, tally) -> tuple[str, list]:
    """One JSON document for all rows, unpacked by PostgreSQL: a parameter or two whatever
    the number of rows (a statement with a placeholder per value costs more to build in
    Python than everything else a 1,000-row request does). Ids come back in row order: the
    sequence numbers the rows in the order they are inserted."""
    table = connection.ops.quote_name(Prediction._meta.db_table)
    insert = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
        "SELECT (r->>0)::bigint, (r->>1)::bigint, r->2, r->3, NULLIF(r->4, 'null'::jsonb), "
        "r->>5, (r->>6)::bigint, (r->>7)::float8, r->>8, r->>9, (r->>10)::bigint, r->>11, %s "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n) ORDER BY n "
        "RETURNING id"
    )
    document = _dumps([_row(row) for row in rows])
    params = [connection.ops.adapt_datetimefield_value(created_at), document]
    if not tally:
        return insert, params
    sql = (
        f"WITH rows AS ({insert}), hours AS ({aggregates.upsert_postgresql(connection=connection)}) "
        "SELECT id FROM rows ORDER BY id"
    )
    return sql, [*params, json.dumps(tally.document(), separators=(",", ":"))]


def _generic(connection, rows: list[dict], created_at) -> tuple[str, list]:
    """A multi-row VALUES statement (SQLite)."""
    table = connection.ops.quote_name(Prediction._meta.db_table)
    one = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(rows))} RETURNING id"
    stamp = connection.ops.adapt_datetimefield_value(created_at)
    params = []
    for row in rows:
        values = _row(row)
        for i in (2, 3, 4):
            values[i] = None if values[i] is None and i == 4 else _dumps(values[i])
        params += [*values, stamp]
    return sql, params


def _dumps(value) -> str:
    """Compact JSON text. orjson writes a 1,000-row document about ten times faster than
    the standard library (0.4 ms against 4.6 ms here); the standard library writes what
    orjson refuses (an integer beyond 64 bits). Non-finite numbers never get here: inputs
    are validated finite and model outputs checked (`runtime.Output`); text with an
    unpaired surrogate is refused when the request is parsed."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


class _PreparingCursor(psycopg.Cursor):
    """Binds its parameters on the server and prepares its statement: the first execution
    on a connection prepares it, the next ones only send the parameters. psycopg prepares
    nothing on a connection whose `prepare_threshold` is None (the settings set it unless
    PREDICTION_LOG_PREPARED=false), so then this is a plain server-binding cursor."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg keeps the statement's text only for statements it does not prepare;
        # Django's query log (DEBUG, tests that count queries) reads it from there.
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


# Kept: its gain is on the database server, a third less PostgreSQL time for a one-row
# request (measured alone when it was built; the settings' prepare_threshold comment).
# The trial's req/s and worker CPU (bench/RESULTS.md "Overrides on trial", 2026-12-07,
# PostgreSQL, 7 rounds) do not see that: -8% req/s switched off, within the noise (±29%).
# psycopg's and Django's hooks it uses are pinned by predictor/tests/test_overrides.py.
_PREPARED = perf.on("log_prepared")  # off: Django's own cursor (client-side binding)


def _prepared_cursor(connection):
    """`connection.cursor()` (health check, errors translated, queries counted), over a
    `_PreparingCursor` instead of Django's client-binding one."""
    if not _PREPARED:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_PreparingCursor(connection.connection))


def rows_write(*, rows: list[dict], served: list[aggregates.Served] = ()) -> list[int]:
    """Insert the rows (dicts of `COLUMNS`, one `created_at` for all) and add what the
    requests that `served` them count to the hourly aggregates, atomically, committed
    before this returns; the rows' ids in order. If the log cannot be written, none of it
    is: ServiceUnavailable (503). With PREDICTION_AGGREGATES_DELAY above 0, the requests
    are counted and added a moment after the rows are committed instead (`deferred`)."""
    alias = _alias()
    connection = connections[alias]
    later, tally = None, None
    if served and deferred.delay() > 0:
        later = served
    elif served:
        tally = aggregates.tally_of(served=served)
    try:
        if connection.vendor == "postgresql":
            sql, params = _postgresql(connection, rows, rows[0]["created_at"], tally)
            with _prepared_cursor(connection) as cursor:
                cursor.execute(sql, params)
                ids = [row[0] for row in cursor.fetchall()]
        else:
            sql, params = _generic(connection, rows, rows[0]["created_at"])
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute(sql, params)
                ids = [row[0] for row in cursor.fetchall()]
                if tally:
                    aggregates.tally_write(tally, alias)
    except DatabaseError as exc:
        log.error("the prediction log could not be written (%d rows): %s", len(rows), exc)
        raise ServiceUnavailable(
            "the prediction could not be logged, so it is not served; try again shortly"
        ) from exc
    if later:
        deferred.add(served=later)
    return ids
