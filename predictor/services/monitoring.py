"""Watching a version in production: traffic, outputs, live accuracy and drift over a window.

Live figures come from feedback rows, over all feedback (`live`) and per source
(`live_by_source`: staff, users); only staff's figures can make a version `degraded`.
Everything stands on the prediction log's hourly aggregates (whole hours) and the rows of
the window's partial hours (`log.windows`), so a report costs the same whatever the log's
size; the KS test reads a sample of the window's rows (chi-squared on the reference bins
when they were pruned). Shadow rows are left out. Statuses, from best to worst:
ok, insufficient_data, unavailable, warn, drift, degraded.
"""

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.utils import timezone

from predictor.models import FeedbackSource, ModelVersion, Task
from predictor.services.errors import InvalidInput
from predictor.services.log import aggregates, sealing, windows
from predictor.services.schema import CATEGORICAL, MISSING, OTHER, OUTPUT

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
KS_SAMPLE = 5000  # rows of the window read for the KS test
MAX_MINUTE_BUCKETS = 24 * 60
EPSILON = 1e-4  # a bin with no share counts as this much in PSI (else log(0))


def worst(*statuses: str) -> str:
    return max(statuses, key=ORDER.index)


def _floor(moment: datetime, bucket: str) -> datetime:
    if bucket == "minute":
        return moment.replace(second=0, microsecond=0)
    if bucket == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def window_check(since, until, bucket: str) -> tuple[datetime, datetime]:
    if since is None and bucket == "minute":
        since = (until or timezone.now()) - timedelta(hours=1)
    elif since is None:
        # The last 24 hours in whole hours (and the current one so far): read from the
        # hourly aggregates alone.
        since = windows.floor_hour((until or timezone.now()) - timedelta(hours=24))
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
            latency=Counter(aggregates.latency_bucket(ms) for ms in group["requests"].values()),
        )
        counts, figures.output_sum, figures.output_sumsq = aggregates.output_counts(
            version, group["outputs"]
        )
        figures.outputs.update(counts)
        for name, counted in aggregates.feature_counts(version, group["records"]).items():
            figures.features[name].update(counted)
        for output, actual in group["fb"]:
            figures.add_feedback(aggregates.feedback_figures(version, output, actual))
        merged[key] = figures
    return merged


def _figures_by_bucket(version, span: windows.Window, bucket: str) -> dict:
    by_bucket: dict = defaultdict(aggregates.Figures)
    if bucket == "minute":  # minutes need rows
        return _rows_figures(version, _all_rows(version, span), bucket=bucket)
    for hour in span.hours:
        by_bucket[_floor(hour.hour, bucket)].merge(aggregates.Figures.from_row(hour))
    for key, figures in _rows_figures(version, span.rows, bucket=bucket).items():
        by_bucket[key].merge(figures)
    return by_bucket


def _all_rows(version, span):
    scope = windows.Scope(version_ids=(version.pk,))
    return scope.rows().filter(created_at__gte=span.since, created_at__lt=span.until)


# --- drift ------------------------------------------------------------------------------------


def _expected(stat: dict) -> dict[str, float]:
    """The training distribution on the keys the log counts with."""
    missing = float(stat.get("missing", 0.0))
    if stat.get("type") == CATEGORICAL:
        shares = {k: float(v) * (1 - missing) for k, v in stat.get("frequencies", {}).items()}
        rest = max(0.0, 1 - missing - sum(shares.values()))
        if rest > 1e-9:
            shares[OTHER] = rest
    else:
        counts = stat.get("counts", [])
        total = sum(counts) or 1
        shares = {str(i): (1 - missing) * c / total for i, c in enumerate(counts)}
    if missing > 0:
        shares[MISSING] = missing
    return shares


def psi(expected: dict[str, float], observed: Counter) -> float:
    total = sum(observed.values())
    if not total:
        return 0.0
    value = 0.0
    for key in set(expected) | set(observed):
        e = max(expected.get(key, 0.0), EPSILON)
        a = max(observed.get(key, 0) / total, EPSILON)
        value += (a - e) * math.log(a / e)
    return value


def _chi2(expected: dict[str, float], observed: Counter) -> tuple[float, float]:
    from scipy import stats as scipy_stats  # imported when drift is measured

    keys = sorted(set(expected) | set(observed))
    total = sum(observed.values())
    f_obs = np.array([observed.get(k, 0) for k in keys], dtype=float)
    f_exp = np.array([max(expected.get(k, 0.0), EPSILON) for k in keys])
    f_exp = f_exp / f_exp.sum() * total
    result = scipy_stats.chisquare(f_obs, f_exp)
    return float(result.statistic), float(result.pvalue)


def _status(psi_value: float, p_value: float | None) -> str:
    if psi_value >= settings.DRIFT_PSI_ALERT or (
        p_value is not None
        and p_value < settings.DRIFT_P_VALUE
        and psi_value >= settings.DRIFT_PSI_WARN
    ):
        return DRIFT
    if psi_value >= settings.DRIFT_PSI_WARN:
        return WARN
    return OK


def _sample(version, span) -> list[dict]:
    rows = _all_rows(version, span).order_by("-created_at", "-id")[:KS_SAMPLE]
    return [
        sealing.unseal(inputs, sealed) if sealed else inputs
        for inputs, sealed in rows.values_list("inputs", "sealed")
    ]


def _drift(version, figures: aggregates.Figures, span) -> dict:
    from scipy import stats as scipy_stats

    reference = version.reference_stats or {}
    n = figures.predictions
    if not reference or not any(f["name"] in reference for f in version.schema):
        return {"status": UNAVAILABLE, "rows": n, "features": [], "outputs": None}
    sample = _sample(version, span) if n else []
    hidden = aggregates.sensitive_of(version)
    features = []
    for feature in version.schema:
        name, stat = feature["name"], reference.get(feature["name"])
        if not stat:
            continue
        observed = figures.features.get(name, Counter())
        expected = _expected(stat)
        value = psi(expected, observed)
        entry = {"name": name, "kind": "categorical" if stat["type"] == CATEGORICAL else "numeric"}
        entry["psi"] = round(value, 6)
        if entry["kind"] == "numeric":
            live = [r.get(name) for r in sample]
            live = [
                float(v) for v in live if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
            if live and stat.get("sample"):
                result = scipy_stats.ks_2samp(np.asarray(stat["sample"]), np.asarray(live))
                entry.update(
                    test="ks", statistic=float(result.statistic), p_value=float(result.pvalue)
                )
            else:
                statistic, p_value = _chi2(expected, observed) if n else (None, None)
                entry.update(test="chi2_binned", statistic=statistic, p_value=p_value)
        else:
            statistic, p_value = _chi2(expected, observed) if n else (None, None)
            entry.update(test="chi2", statistic=statistic, p_value=p_value)
        entry["status"] = (
            _status(value, entry["p_value"]) if n >= settings.DRIFT_MIN_ROWS else INSUFFICIENT
        )
        entry["reference"] = expected
        entry["window"] = (
            aggregates.small_counts_merged(observed, minimum=settings.PRIVACY_MIN_COUNT)
            if name in hidden  # a sensitive feature's rare bins would point at a person
            else dict(observed)
        )
        features.append(entry)
    features.sort(key=lambda f: (ORDER.index(f["status"]), f["psi"]), reverse=True)
    outputs = None
    if OUTPUT in reference and n:
        out_psi = psi(_expected(reference[OUTPUT]), figures.outputs)
        outputs = {
            "psi": round(out_psi, 6),
            "status": _status(out_psi, None) if n >= settings.DRIFT_MIN_ROWS else INSUFFICIENT,
        }
    if n < settings.DRIFT_MIN_ROWS:
        status = INSUFFICIENT
    else:
        status = worst(
            OK, *(f["status"] for f in features), *([outputs["status"]] if outputs else [])
        )
    return {"status": status, "rows": n, "features": features, "outputs": outputs}


# --- live accuracy ------------------------------------------------------------------------------


# The feedback sources `live_by_source` reports; anonymous feedback judges nothing.
LIVE_SOURCES = {"staff": FeedbackSource.STAFF, "users": FeedbackSource.USER}


def _live_by_source(version, span) -> tuple[dict | None, dict]:
    """Live figures over all feedback, and per trusted source (staff, users)."""
    labelled = _all_rows(version, span).exclude(actual=None)
    values = labelled.values_list("output", "actual", "actual_source")
    rows = list(values.iterator(chunk_size=5000))
    by_source = {
        key: _live(version, [(p, a) for p, a, s in rows if s == source])
        for key, source in LIVE_SOURCES.items()
    }
    return _live(version, [(p, a) for p, a, _ in rows]), by_source


def _live(version, pairs: list) -> dict | None:
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

    holdout = {k: v for k, v in (version.metrics or {}).items() if isinstance(v, (int, float))}
    if not pairs:
        return None
    predicted, actual = [p for p, _ in pairs], [a for _, a in pairs]
    if version.model.task == Task.CLASSIFICATION:
        predicted, actual = [str(p) for p in predicted], [str(a) for a in actual]
        return {
            "labelled": len(pairs),
            "accuracy": float(accuracy_score(actual, predicted)),
            "f1_macro": float(f1_score(actual, predicted, average="macro", zero_division=0)),
            "holdout": {k: holdout[k] for k in ("accuracy", "f1_macro") if k in holdout},
        }
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    return {
        "labelled": len(pairs),
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(math.sqrt(np.mean((actual - predicted) ** 2))),
        "r2": float(r2_score(actual, predicted)) if len(pairs) > 1 else None,
        "holdout": {k: holdout[k] for k in ("mae", "rmse", "r2") if k in holdout},
    }


def _live_status(live: dict | None, task: str) -> str:
    if not live:
        return OK
    tolerance = settings.LIVE_METRIC_TOLERANCE
    holdout = live["holdout"]
    if task == Task.CLASSIFICATION and "accuracy" in holdout:
        return DEGRADED if live["accuracy"] < holdout["accuracy"] - tolerance else OK
    if "rmse" in holdout:
        return DEGRADED if live["rmse"] > holdout["rmse"] * (1 + tolerance) else OK
    return OK


# --- the report ---------------------------------------------------------------------------------


def report(
    version: ModelVersion,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: str = "hour",
) -> dict:
    """The monitoring report of a version over [since, until) (default the last 24 h)."""
    since, until = window_check(since, until, bucket)
    scope = windows.Scope(version_ids=(version.pk,))
    span = windows.window(scope, since, until)
    by_bucket = _figures_by_bucket(version, span, bucket)
    total = aggregates.Figures()
    for figures in by_bucket.values():
        total.merge(figures)
    seconds = BUCKETS[bucket].total_seconds()
    traffic = []
    for start in sorted(by_bucket):
        figures = by_bucket[start]
        traffic.append(
            {
                "start": start.isoformat(),
                "predictions": figures.predictions,
                "requests": figures.requests,
                "qps": round(figures.requests / seconds, 6),
                "latency_ms_p50": _round(percentile(figures.latency, 0.5)),
                "latency_ms_p95": _round(percentile(figures.latency, 0.95)),
                "labelled": figures.labelled,
                "correct": figures.correct,
            }
        )
    task = version.model.task
    live, live_by_source = _live_by_source(version, span)
    drift = _drift(version, total, span)
    return {
        "model": version.model.name,
        "version": version.version,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "bucket": bucket,
        "traffic": traffic,
        "outputs": _outputs(version, total),
        "live": live,
        "live_by_source": live_by_source,
        "drift": drift,
        # Only staff's word can make a version degraded: a user's false labels cannot.
        "status": worst(drift["status"], _live_status(live_by_source["staff"], task)),
    }


def _round(value):
    return None if value is None else round(value, 3)


def _outputs(version, figures: aggregates.Figures) -> dict:
    if version.model.task == Task.CLASSIFICATION:
        return dict(+figures.outputs)
    n = figures.predictions
    if not n:
        return {"mean": None, "p10": None, "p50": None, "p90": None}
    edges = (version.reference_stats or {}).get(OUTPUT, {}).get("edges", [])
    histogram = Counter({k: v for k, v in figures.outputs.items() if k != MISSING})
    return {
        "mean": figures.output_sum / n,
        **{f"p{int(q * 100)}": _binpercentile(histogram, edges, q) for q in (0.1, 0.5, 0.9)},
    }


def _binpercentile(histogram: Counter, edges: list, q: float) -> float | None:
    """A percentile from counts on training bins (linear inside a bin)."""
    total = sum(histogram.values())
    if not total or len(edges) < 2:
        return None
    rank, seen = q * total, 0
    for i in range(len(edges) - 1):
        n = histogram.get(str(i), 0)
        if n and seen + n >= rank:
            return float(edges[i] + (edges[i + 1] - edges[i]) * (rank - seen) / n)
        seen += n
    return float(edges[-1])


def version_report(
    *, model_name: str, user, version=None, since=None, until=None, bucket: str | None = None
) -> dict:
    """The report of a model's version (default production) for a staff caller; the
    window's text parsed here so every door reads it alike."""
    from predictor.services import timestamps  # noqa: PLC0415
    from predictor.services.serving import routing  # noqa: PLC0415

    version_ = routing.version_for(model_name=model_name, user=user, version=version)
    return report(
        version_,
        since=timestamps.timestamp_parse(since, field="since") if since else None,
        until=timestamps.timestamp_parse(until, field="until") if until else None,
        bucket=bucket or "hour",
    )
