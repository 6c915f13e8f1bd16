"""Reading the prediction log: pages by cursor, and the CSV export.

Pages follow a keyset over (`created_at`, `id`), newest first, so a page costs an index
range scan whatever the log's size and new rows never shift what a walk sees. The export
streams at constant memory: on PostgreSQL the database writes the CSV itself (`COPY … TO
STDOUT`), elsewhere (and when sensitive values must be decrypted) Python writes it from a
server-side cursor over plain values, in the same columns and with the same cell rules.
"""

import base64
import binascii
import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.db import connections
from django.db.models import Q

from predictor.services import csvsafe
from predictor.services.errors import InvalidInput
from predictor.services.log import sealing

NEWER, OLDER = "p", "n"
CHUNK_BYTES = 256 * 1024

COLUMNS = [
    "id",
    "created_at",
    "model",
    "version",
    "source",
    "user",
    "output",
    "probabilities",
    "actual",
    "latency_ms",
    "request_id",
]


# --- Cursor pages ------------------------------------------------------------------------


@dataclass
class Page:
    rows: list
    next: str | None  # cursor of the older rows
    previous: str | None  # cursor of the newer rows


def _cursor(direction: str, row) -> str:
    raw = f"{direction}|{row.created_at.astimezone(UTC).isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_parse(*, text: str) -> tuple[str, datetime, int]:
    """(direction, created_at, id) of an opaque cursor; InvalidInput naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        direction, stamp, pk = raw.split("|")
        moment = datetime.fromisoformat(stamp)
        pk = int(pk)
        if direction not in (NEWER, OLDER) or moment.tzinfo is None or not 0 < pk < 2**63:
            raise ValueError(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput(
            "not a cursor of this list; follow the `next` and `previous` links", field="cursor"
        ) from None
    return direction, moment, pk


def page(*, queryset, cursor: str | None, size: int) -> Page:
    """One page of `queryset` (already filtered) from a cursor (None: the newest rows)."""
    if cursor is None:
        rows = list(queryset.order_by("-created_at", "-id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        return Page(rows, _cursor(OLDER, rows[-1]) if more else None, None)
    direction, moment, pk = cursor_parse(text=cursor)
    if direction == OLDER:
        older = queryset.filter(created_at__lte=moment).filter(
            Q(created_at__lt=moment) | Q(id__lt=pk)
        )
        rows = list(older.order_by("-created_at", "-id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        return Page(
            rows,
            _cursor(OLDER, rows[-1]) if more else None,
            _cursor(NEWER, rows[0]) if rows else None,
        )
    newer = queryset.filter(created_at__gte=moment).filter(Q(created_at__gt=moment) | Q(id__gt=pk))
    rows = list(newer.order_by("created_at", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size][::-1]
    return Page(
        rows,
        _cursor(OLDER, rows[-1]) if rows else None,
        _cursor(NEWER, rows[0]) if more else None,
    )


# --- Export --------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _plain(value):
    """A logged JSON value as a CSV cell: text as itself, numbers as numbers."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return csvsafe.cell(value=value)
    return json.dumps(value)


def _latency(ms: float) -> str:
    return f"{ms:.3f}".rstrip("0").rstrip(".")


def header(*, features: list[str] | None) -> list[str]:
    """The header row; a feature's name is a cell like any other (`=1+2` → `'=1+2`)."""
    return csvsafe.row(values=COLUMNS + (list(features) if features is not None else ["inputs"]))


class _Echo:
    def write(self, value):
        return value


VALUES = (
    "id",
    "created_at",
    "model__name",
    "version__version",
    "source",
    "user__username",
    "output",
    "probabilities",
    "actual",
    "latency_ms",
    "request_id",
    "inputs",
    "sealed",
)


def csv_lines(values, features, *, decrypt: bool = False):
    """CSV lines (text, header first) of rows given as tuples of `VALUES`, in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header(features=features))
    chunk = []
    for pk, at, model, version, source, user, out, probs, actual, ms, rid, inputs, sealed in values:
        if decrypt and sealed:
            inputs = sealing.unseal(inputs, sealed)
        line = [
            pk,
            _stamp(at),
            model,
            version,
            source,
            csvsafe.cell(value=user),
            _plain(out),
            json.dumps(probs) if probs is not None else "",
            _plain(actual),
            _latency(ms),
            csvsafe.cell(value=rid),
        ]
        if features is None:
            line.append(json.dumps(inputs))
        else:
            line += [_plain(inputs.get(name)) for name in features]
        chunk.append(writer.writerow(line))
        if len(chunk) == 1000:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _python_rows(queryset, features, decrypt: bool):
    values = queryset.order_by("-created_at", "-id").values_list(*VALUES)
    for text in csv_lines(values.iterator(chunk_size=5000), features, decrypt=decrypt):
        yield text.encode()


_PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _safe_text(expr: str) -> str:
    """SQL for csvsafe.cell of a text expression."""
    return (
        f"CASE WHEN {expr} ~ '^[-=+@\\t\\r]' AND {expr} !~ '{_PLAIN_NUMBER}' "
        f"THEN '''' || {expr} ELSE {expr} END"
    )


def _plain_sql(expr: str) -> str:
    """SQL for `_plain` of a jsonb expression."""
    text = f"({expr} #>> '{{}}')"
    return (
        f"CASE jsonb_typeof({expr}) WHEN 'string' THEN {_safe_text(text)} "
        f"WHEN 'null' THEN NULL ELSE {expr}::text END"
    )


def _copy_sql(queryset, features) -> tuple[str, list]:
    """The export as one SELECT for COPY: the queryset's own SQL (filters and access rules
    included) for the values, wrapped in the same cell rules as the Python writer."""
    values = queryset.order_by().values_list(*VALUES[:-1])  # all but `sealed`
    inner, params = values.query.sql_with_params()
    names = (
        "id, at, model, version, source, username, output, probabilities, actual, ms, rid, inputs"
    )
    columns = [
        "q.id",
        "to_char(q.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
        "q.model",
        "q.version",
        "q.source",
        _safe_text("q.username"),
        _plain_sql("q.output"),
        "q.probabilities::text",
        _plain_sql("q.actual"),
        "rtrim(rtrim(round(q.ms::numeric, 3)::text, '0'), '.')",
        _safe_text("q.rid"),
    ]
    params = list(params)
    lateral = ""
    if features is None:
        columns.append("q.inputs::text")
    elif features:
        # Each feature's value once, by name as a parameter, then its cell.
        picks = [f"q.inputs -> %s AS f{i}" for i in range(len(features))]
        lateral = f", LATERAL (SELECT {', '.join(picks)}) AS f"
        columns += [_plain_sql(f"f.f{i}") for i in range(len(features))]
        params += list(features)
    sql = (
        f"SELECT {', '.join(columns)} FROM ({inner}) AS q({names}){lateral} "
        "ORDER BY q.at DESC, q.id DESC"
    )
    return sql, params


def _copy_rows(connection, queryset, features):
    writer = csv.writer(_Echo())
    yield writer.writerow(header(features=features)).encode()
    sql, params = _copy_sql(queryset, features)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY (which takes no parameters)
        statement = psycopg.ClientCursor(raw.connection).mogrify(sql, params)
        # Room to sort a filtered export in memory rather than in temporary files.
        cursor.execute("SET work_mem = '64MB'")
        with raw.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)") as copy:
            # COPY hands over a row at a time: send the client 256 KB at a time instead.
            buffer, size = [], 0
            for data in copy:
                buffer.append(data)
                size += len(data)
                if size >= CHUNK_BYTES:
                    yield b"".join(buffer)
                    buffer, size = [], 0
            if buffer:
                yield b"".join(buffer)
        cursor.execute("RESET work_mem")


def export(*, queryset, features: list[str] | None = None, decrypt: bool = False):
    """The CSV of every row of `queryset`, newest first, as an iterator of byte chunks:
    `COLUMNS`, then one column per feature (`features`) or the inputs as JSON."""
    connection = connections[queryset.db]
    if connection.vendor == "postgresql" and not decrypt:
        return _copy_rows(connection, queryset, features)
    return _python_rows(queryset, features, decrypt)
