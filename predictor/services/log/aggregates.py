"""Hourly aggregates of the prediction log: what charts and monitoring read.

A key is (hour, model, version, source, user); its figures are counts and sums that only
ever grow by addition, so the writer adds a flush's increments with one upsert and
feedback adds its own, and `rebuild` recomputes them from rows with the same code.

Counts of a feature are taken on the version's reference bins (`schema.reference_stats`),
before any value is encrypted, so drift works on sensitive features too. Those of the
model's sensitive features go to the "all users" keys only: a per-user key holds no figure
of them (one person's bins would give their values away). The all-users keys keep exact
counts, because figures only grow by addition (a count dropped while small would be lost
for good); whoever shows them applies the small-count rule (`small_counts_merged`).
"""

import bisect
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from django.db import connections

from predictor.models import PredictionHour, Task
from predictor.services.schema import CATEGORICAL, MISSING, OTHER, OUTPUT

# Upper bounds (ms) of the latency histogram; one request counts once, in the first bucket
# whose bound it does not exceed.
LATENCY_BOUNDS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
INF = "le_inf"

# Every figure is also added to the key of "all users" (user_key ALL_USERS): what charts and
# monitoring read when they do not ask about one user, a row per hour, version and source
# however many users there are.
ALL_USERS = -1
ANONYMOUS = 0

# The figures, in the order of the upsert's columns after the key.
SUMS = ("predictions", "requests", "latency_ms_sum", "output_sum", "output_sumsq")
COUNTS = ("latency", "outputs", "features")
FEEDBACK = ("labelled", "correct", "abs_error_sum", "sq_error_sum")
FIGURES = (*SUMS, *COUNTS, *FEEDBACK)


def latency_bucket(*, ms: float) -> str:
    for bound in LATENCY_BOUNDS_MS:
        if ms <= bound:
            return f"le_{bound:g}"
    return INF


def hour_of(*, moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _edges_inner(stat: dict) -> list[float]:
    return stat.get("edges", [])[1:-1]


def _numeric_counts(values: list, stat: dict) -> Counter:
    edges = stat.get("edges") or []
    counts = Counter()
    if len(values) < 32:  # one request: plain Python is faster than building arrays
        inner = _edges_inner(stat)
        for v in values:
            if v is None or not _numeric(v) or not edges:
                counts[MISSING] += 1
            else:
                counts[str(bisect.bisect_right(inner, v))] += 1
        return counts
    array = np.array([v if _numeric(v) else np.nan for v in values], dtype=float)
    missing = np.isnan(array)
    if missing.any():
        counts[MISSING] = int(missing.sum())
    present = array[~missing]
    if present.size:
        if not edges:
            counts[MISSING] += int(present.size)
        else:
            bins = np.searchsorted(np.asarray(_edges_inner(stat), dtype=float), present, "right")
            for b, n in zip(*np.unique(bins, return_counts=True)):
                counts[str(int(b))] = int(n)
    return counts


def _category_counts(values: list, stat: dict) -> Counter:
    known = stat.get("frequencies", {})
    return Counter(MISSING if v is None else (str(v) if str(v) in known else OTHER) for v in values)


def value_counts(*, values: list, stat: dict) -> Counter:
    """Counts of values on one reference distribution: bin index (numeric), category or
    `OTHER` (categorical), `MISSING` for absent values."""
    if stat.get("type") == CATEGORICAL:
        return _category_counts(values, stat)
    return _numeric_counts(values, stat)


def sensitive_of(*, version) -> frozenset:
    """The sensitive features of a version: its registered model's list."""
    return frozenset(version.model.sensitive or ())


def small_counts_merged(*, counts: dict, minimum: int) -> dict:
    """Counts of a sensitive feature as they may be shown: bins or categories counted fewer
    than `minimum` times merged into `OTHER`, which is dropped if still below it."""
    shown, merged = {}, 0
    for key, n in counts.items():
        if n >= minimum and key != OTHER:
            shown[key] = n
        else:
            merged += n
    if merged >= minimum:
        shown[OTHER] = merged
    return shown


def feature_counts(*, version, records: list[dict]) -> dict[str, Counter]:
    reference = version.reference_stats or {}
    counts = {}
    for feature in version.schema:
        stat = reference.get(feature["name"])
        if stat:
            counts[feature["name"]] = value_counts(
                values=[r.get(feature["name"]) for r in records], stat=stat
            )
    return counts


def _regression(version) -> bool:
    return version.model.task == Task.REGRESSION


# A value enters the sums at most this large: a model may answer a finite number whose
# square is not (1e200), and a sum that overflows would stop every later figure of the
# hour (the database refuses infinity). The bins still count the value where it falls.
SUM_BOUND = 1e100


def _bounded(value: float) -> float:
    return max(-SUM_BOUND, min(SUM_BOUND, value))


def output_counts(*, version, outputs: list) -> tuple[Counter, float, float]:
    """Classes counted by label; regression values on the target's training bins, with
    their sum and sum of squares (each value at most ±`SUM_BOUND`)."""
    if not _regression(version):
        return Counter(map(str, outputs)), 0.0, 0.0
    stat = (version.reference_stats or {}).get(OUTPUT)
    numbers = [float(o) for o in outputs if _numeric(o)]
    counts = value_counts(values=numbers, stat=stat) if stat else Counter()
    bounded = [_bounded(x) for x in numbers]
    return counts, math.fsum(bounded), math.fsum(x * x for x in bounded)


def feedback_figures(*, version, output, actual) -> dict:
    """What one labelled prediction adds to the feedback figures (zero when unlabelled)."""
    if actual is None:
        return dict.fromkeys(FEEDBACK, 0)
    if _regression(version):
        if not (_numeric(output) and _numeric(actual)):
            return {"labelled": 1, "correct": 0, "abs_error_sum": 0.0, "sq_error_sum": 0.0}
        error = _bounded(float(actual) - float(output))
        return {
            "labelled": 1,
            "correct": 0,
            "abs_error_sum": abs(error),
            "sq_error_sum": error * error,
        }
    return {
        "labelled": 1,
        "correct": int(actual == output),
        "abs_error_sum": 0.0,
        "sq_error_sum": 0.0,
    }


@dataclass
class Figures:
    """The increments of one aggregate key."""

    predictions: int = 0
    requests: int = 0
    latency_ms_sum: float = 0.0
    output_sum: float = 0.0
    output_sumsq: float = 0.0
    latency: Counter = field(default_factory=Counter)
    outputs: Counter = field(default_factory=Counter)
    features: dict = field(default_factory=lambda: defaultdict(Counter))
    labelled: int = 0
    correct: int = 0
    abs_error_sum: float = 0.0
    sq_error_sum: float = 0.0

    @classmethod
    def from_row(cls, row: PredictionHour) -> "Figures":
        figures = cls(
            latency=Counter(row.latency),
            outputs=Counter(row.outputs),
            features=defaultdict(Counter, {k: Counter(v) for k, v in row.features.items()}),
        )
        for name in (*SUMS, *FEEDBACK):
            setattr(figures, name, getattr(row, name))
        return figures

    def merge(self, other: "Figures") -> None:
        for name in (*SUMS, *FEEDBACK):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.update(other.latency)
        self.outputs.update(other.outputs)
        for name, counts in other.features.items():
            self.features[name].update(counts)

    def subtract(self, other: "Figures") -> None:
        """Take `other`'s figures out (an erasure); counts that reach 0 go."""
        for name in (*SUMS, *FEEDBACK):
            setattr(self, name, getattr(self, name) - getattr(other, name))
        self.latency = +(self.latency - other.latency)
        self.outputs = +(self.outputs - other.outputs)
        for name, counts in other.features.items():
            if name in self.features:
                self.features[name] = +(self.features[name] - counts)

    def store(self, row: PredictionHour) -> None:
        """Put these figures in an aggregate row (saved by the caller)."""
        for name in (*SUMS, *FEEDBACK):
            setattr(row, name, getattr(self, name))
        row.latency, row.outputs = dict(self.latency), dict(self.outputs)
        row.features = {k: dict(v) for k, v in self.features.items() if v}

    def add_feedback(self, figures: dict, sign: int = 1) -> None:
        for name in FEEDBACK:
            setattr(self, name, getattr(self, name) + sign * figures[name])

    def values(self) -> list:
        out = []
        for name in FIGURES:
            value = getattr(self, name)
            if name == "features":
                value = {k: dict(v) for k, v in value.items()}
            elif name in COUNTS:
                value = dict(value)
            out.append(value)
        return out


def without_features(*, figures: Figures, names) -> Figures:
    """The figures with no counts of the features `names` (a per-user key's share)."""
    if not names or not any(name in figures.features for name in names):
        return figures
    kept = defaultdict(Counter, {k: v for k, v in figures.features.items() if k not in names})
    return replace(figures, features=kept)


@dataclass
class Served:
    """One request's logged rows, as the aggregates need them (counted by `tally_of`)."""

    version: object
    moment: object
    source: str
    user_id: int | None
    records: list
    outputs: list
    latency_ms: float


def tally_of(*, served: Iterable[Served]) -> "Tally":
    """The increments of many requests: those of one hour, version, source and user are
    counted together, once."""
    tally = Tally()
    groups = defaultdict(list)
    for item in served:
        groups[(item.version.pk, hour_of(moment=item.moment), item.source, item.user_id)].append(
            item
        )
    for items in groups.values():
        first = items[0]
        tally.add_requests(
            first.version,
            moment=first.moment,
            source=first.source,
            user_id=first.user_id,
            records=[r for item in items for r in item.records],
            outputs=[o for item in items for o in item.outputs],
            latencies=[item.latency_ms for item in items],
        )
    return tally


class Tally:
    """Increments of the aggregate keys touched by one flush (or one rebuild)."""

    def __init__(self):
        self.keys: dict[tuple, Figures] = defaultdict(Figures)

    def add_requests(
        self, version, *, moment, source, user_id, records, outputs, latencies: list[float]
    ):
        """The rows of one or more requests of one key (one source and user), with the
        latency of each request."""
        figures = Figures()
        figures.predictions += len(records)
        figures.requests += len(latencies)
        figures.latency_ms_sum += math.fsum(latencies)
        for ms in latencies:
            figures.latency[latency_bucket(ms=ms)] += 1
        counts, total, squares = output_counts(version=version, outputs=outputs)
        figures.outputs.update(counts)
        figures.output_sum += total
        figures.output_sumsq += squares
        for name, counted in feature_counts(version=version, records=records).items():
            figures.features[name].update(counted)
        mine, everyone = self._keys(version, moment, source, user_id)
        self.keys[everyone].merge(figures)
        self.keys[mine].merge(
            without_features(figures=figures, names=sensitive_of(version=version))
        )
        return figures

    @staticmethod
    def _keys(version, moment, source, user_id) -> tuple:
        hour = hour_of(moment=moment)
        return (
            (hour, version.model_id, version.pk, source, user_id or ANONYMOUS),
            (hour, version.model_id, version.pk, source, ALL_USERS),
        )

    def add_feedback(self, version, *, moment, source, user_id, figures: dict, sign: int = 1):
        for key in self._keys(version, moment, source, user_id):
            self.keys[key].add_feedback(figures, sign)

    def __bool__(self):
        return bool(self.keys)

    def document(self) -> list[list]:
        """One list per key, in key order (concurrent upserts then lock rows in the same
        order, so they cannot deadlock)."""
        return [
            [hour.isoformat(), model_id, version_id, source, user_key, *figures.values()]
            for (hour, model_id, version_id, source, user_key), figures in sorted(
                self.keys.items(), key=lambda kv: (kv[0][0], *kv[0][1:])
            )
        ]


KEY_COLUMNS = ("hour", "model_id", "version_id", "source", "user_key")
COLUMNS = (*KEY_COLUMNS, *FIGURES)
_PG_CASTS = {
    "hour": "(a->>{i})::timestamptz",
    "model_id": "(a->>{i})::bigint",
    "version_id": "(a->>{i})::bigint",
    "source": "a->>{i}",
    "user_key": "(a->>{i})::bigint",
    "predictions": "(a->>{i})::bigint",
    "requests": "(a->>{i})::bigint",
    "labelled": "(a->>{i})::bigint",
    "correct": "(a->>{i})::bigint",
}


def _update_clause(table: str, add_json: str) -> str:
    sets = []
    for name in FIGURES:
        if name in COUNTS:
            sets.append(f"{name} = {add_json}({table}.{name}, EXCLUDED.{name})")
        else:
            sets.append(f"{name} = {table}.{name} + EXCLUDED.{name}")
    return f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET " + ", ".join(sets)


def upsert_postgresql(*, connection) -> str:
    """The upsert of a JSON document of keys (one parameter), for PostgreSQL; usable as a
    CTE of the statement that inserts the rows."""
    table = connection.ops.quote_name(PredictionHour._meta.db_table)
    selects = []
    for i, name in enumerate(COLUMNS):
        if name in COUNTS:
            selects.append(f"a->{i}")
        else:
            selects.append(_PG_CASTS.get(name, "(a->>{i})::float8").format(i=i))
    return (
        f"INSERT INTO {table} AS t ({', '.join(COLUMNS)}) SELECT {', '.join(selects)} "
        "FROM jsonb_array_elements(%s::jsonb) AS x(a) " + _update_clause("t", "mlsite_json_add")
    )


def upsert_generic(*, connection, document: list[list]) -> tuple[str, list]:
    """The same upsert as a multi-row VALUES statement (SQLite)."""
    table = connection.ops.quote_name(PredictionHour._meta.db_table)
    one = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    params = []
    for values in document:
        values = list(values)
        values[0] = connection.ops.adapt_datetimefield_value(
            PredictionHour._meta.get_field("hour").to_python(values[0])
        )
        for i, name in enumerate(COLUMNS):
            if name in COUNTS:
                values[i] = json.dumps(values[i], separators=(",", ":"))
        params += values
    sql = (
        f"INSERT INTO {table} AS t ({', '.join(COLUMNS)}) VALUES "
        + ", ".join([one] * len(document))
        + " "
        + _update_clause("t", "mlsite_json_add")
    )
    return sql, params


def tally_write(tally: Tally, using: str) -> None:
    """Add a tally's increments (outside the writer's statement: feedback, rebuilds)."""
    if not tally:
        return
    connection = connections[using]
    document = tally.document()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(upsert_postgresql(connection=connection), [json.dumps(document)])
        else:
            cursor.execute(*upsert_generic(connection=connection, document=document))


def json_add(a, b):
    """mlsite_json_add for SQLite (registered on each connection): add JSON counts key by
    key, recursing into nested objects."""

    def add(x: dict, y: dict) -> dict:
        out = dict(x)
        for key, value in y.items():
            if isinstance(value, dict):
                out[key] = add(out.get(key) if isinstance(out.get(key), dict) else {}, value)
            else:
                out[key] = (out.get(key) or 0) + value
        return out

    left = json.loads(a) if a else {}
    right = json.loads(b) if b else {}
    return json.dumps(add(left, right), separators=(",", ":"))


def register_sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function("mlsite_json_add", 2, json_add, deterministic=True)
