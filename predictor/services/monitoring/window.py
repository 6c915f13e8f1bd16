"""A monitoring window: the statuses, the window's bounds and buckets, and its figures read
from the prediction log's hourly aggregates (whole hours) and rows (partial hours)."""

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.utils import timezone

from predictor.services.errors import InvalidInput
from predictor.services.log import aggregates, sealing, windows

OK, INSUFFICIENT, UNAVAILABLE, WARN, DRIFT, DEGRADED = (
    "ok",
    "insufficient_data",
    "unavailable",
    "warn",
    "drift",
    "degraded",
)
ORDER = [OK, INSUFFICIENT, UNAVAILABLE, WARN, DRIFT, DEGRADED]
BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_MINUTE_BUCKETS = 24 * 60


def worst(*statuses: str) -> str:
    return max(statuses, key=ORDER.index)


def _floor(moment: datetime, bucket: str) -> datetime:
    if bucket == "minute":
        return moment.replace(second=0, microsecond=0)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def window_check(*, since, until, bucket: str) -> tuple[datetime, datetime]:
    if since is None and bucket == "minute":
        since = (until or timezone.now()) - timedelta(hours=1)
    elif since is None:
        # The last 24 hours in whole hours (and the current one so far): read from the
        # hourly aggregates alone.
        since = windows.floor_hour(moment=(until or timezone.now()) - timedelta(hours=24))
    until = until or timezone.now()
    if since >= until:
        raise InvalidInput("'since' must be before 'until'", field="since")
    if bucket not in BUCKETS:
        raise InvalidInput("use minute, hour or day", field="bucket")
    if bucket == "minute" and until - since > timedelta(minutes=MAX_MINUTE_BUCKETS):
        raise InvalidInput(
            "minute buckets cover at most 24 hours; choose a shorter window or bucket=hour",
            field="bucket",
        )
    return since, until


# --- reading the window ---------------------------------------------------------------------


def percentile(histogram: Counter, q: float) -> float | None:
    """A percentile of a latency histogram ({"le_5": n}), linear inside its bucket."""
    total = sum(histogram.values())
    if not total:
        return None
    bounds = [(float(k[3:]) if k != aggregates.INF else math.inf, n) for k, n in histogram.items()]
    bounds.sort()
    rank, seen, lower = q * total, 0, 0.0
    for upper, n in bounds:
        if seen + n >= rank and n:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
        lower = upper if not math.isinf(upper) else lower
    return lower


def _rows_figures(version, rows, *, bucket: str | None = None) -> dict:
    """Figures of prediction rows (the window's partial hours), keyed by bucket start
    (or one key, None): what the writer adds up, computed from the rows a bucket at a time.
    Rows written together with one request id count as one request."""
    grouped: dict = defaultdict(lambda: {"records": [], "outputs": [], "requests": {}, "fb": []})
    values = rows.order_by().values_list(
        "created_at", "source", "request_id", "inputs", "sealed", "output", "latency_ms", "actual"
    )
    for at, source, rid, inputs, sealed, output, ms, actual in values.iterator(chunk_size=5000):
        group = grouped[_floor(at, bucket) if bucket else None]
        group["records"].append(sealing.unseal(inputs, sealed) if sealed else inputs)
        group["outputs"].append(output)
        group["requests"][(at, source, rid)] = ms
        if actual is not None:
            group["fb"].append((output, actual))
    merged = {}
    for key, group in grouped.items():
        figures = aggregates.Figures(
            predictions=len(group["records"]),
            requests=len(group["requests"]),
            latency_ms_sum=sum(group["requests"].values()),
            latency=Counter(aggregates.latency_bucket(ms=ms) for ms in group["requests"].values()),
        )
        counts, figures.output_sum, figures.output_sumsq = aggregates.output_counts(
            version=version, outputs=group["outputs"]
        )
        figures.outputs.update(counts)
        for name, counted in _feature_counts(version, group["records"]).items():
            figures.features[name].update(counted)
        for output, actual in group["fb"]:
            figures.add_feedback(
                aggregates.feedback_figures(version=version, output=output, actual=actual)
            )
        merged[key] = figures
    return merged


def _feature_counts(version, records: list[dict]) -> dict[str, Counter]:
    """Counts of each feature on its reference, leaving out the values of sensitive
    features that no key can open (stored redacted): unknown, not missing."""
    reference = version.reference_stats or {}
    counts = {}
    for feature in version.schema:
        name = feature["name"]
        if reference.get(name):
            values = [r.get(name) for r in records if r.get(name) != sealing.REDACTED]
            counts[name] = aggregates.value_counts(values=values, stat=reference[name])
    return counts


def figures_by_bucket(*, version, span: windows.Window, bucket: str) -> dict:
    by_bucket: dict = defaultdict(aggregates.Figures)
    if bucket == "minute":  # minutes need rows
        return _rows_figures(version, all_rows(version=version, span=span), bucket=bucket)
    for hour in span.hours:
        by_bucket[_floor(hour.hour, bucket)].merge(aggregates.Figures.from_row(hour))
    for key, figures in _rows_figures(version, span.rows, bucket=bucket).items():
        by_bucket[key].merge(figures)
    return by_bucket


def all_rows(*, version, span):
    scope = windows.Scope(version_ids=(version.pk,))
    return scope.rows().filter(created_at__gte=span.since, created_at__lt=span.until)
