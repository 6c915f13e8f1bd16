"""Writing the prediction log: the rows of one model call, in one statement.

The hot path of every prediction ends here, so the rows go in as one multi-row INSERT
written here rather than through the ORM's `bulk_create`: one round trip to the database
(a single statement is its own transaction, atomic), no model instances, no BEGIN. On
PostgreSQL it uses the "log" connection when settings define one (commits that do not wait
for the disk, see settings.py).
"""

import json
import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from predictor.models import Prediction
from predictor.services.errors import ServiceUnavailable

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
    ]


def _postgresql(connection, rows: list[dict], created_at) -> tuple[str, list]:
    """One JSON document for all rows, unpacked by PostgreSQL: two parameters whatever the
    number of rows (a statement with a placeholder per value costs more to build in Python
    than everything else a 1,000-row request does)."""
    table = connection.ops.quote_name(Prediction._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
        "SELECT (r->>0)::bigint, (r->>1)::bigint, r->2, r->3, NULLIF(r->4, 'null'::jsonb), "
        "r->>5, (r->>6)::bigint, (r->>7)::float8, r->>8, %s "
        "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n) ORDER BY n "
        "RETURNING id"
    )
    document = json.dumps([_row(row) for row in rows], separators=(",", ":"))
    return sql, [connection.ops.adapt_datetimefield_value(created_at), document]


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
    return json.dumps(value, separators=(",", ":"))


def rows_write(rows: list[dict]) -> list[int]:
    """Insert the rows (dicts of `COLUMNS`, one `created_at` for all) in one statement,
    committed before this returns; their ids in order. If the log cannot be written, none
    of them is: ServiceUnavailable (503)."""
    connection = connections[_alias()]
    build = _postgresql if connection.vendor == "postgresql" else _generic
    sql, params = build(connection, rows, rows[0]["created_at"])
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
    except DatabaseError as exc:
        log.error("the prediction log could not be written (%d rows): %s", len(rows), exc)
        raise ServiceUnavailable(
            "the prediction could not be logged, so it is not served; try again shortly"
        ) from exc
    return ids
