"""Watching a version in production: traffic, outputs, live accuracy and drift over a window.

Live figures come from feedback rows, over all feedback (`live`) and per source
(`live_by_source`: staff, users); only staff's figures can make a version `degraded`, and
only from `LIVE_MIN_LABELS` labels on (fewer: insufficient_data).
Everything stands on the prediction log's hourly aggregates (whole hours) and the rows of
the window's partial hours (`log.windows`), so a report costs the same whatever the log's
size; the KS test reads a sample of the window's rows (chi-squared on the reference bins
when they were pruned). Shadow rows are left out. Statuses, from best to worst:
ok, insufficient_data, unavailable, warn, drift, degraded.
"""

from collections import Counter
from datetime import datetime

from predictor.models import ModelVersion, Task
from predictor.services.log import aggregates, windows
from predictor.services.monitoring import drift, window
from predictor.services.monitoring import live as live_figures
from predictor.services.schema import MISSING, OUTPUT


def report(
    *,
    version: ModelVersion,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: str = "hour",
) -> dict:
    """The monitoring report of a version over [since, until) (default the last 24 h)."""
    since, until = window.window_check(since=since, until=until, bucket=bucket)
    scope = windows.Scope(version_ids=(version.pk,))
    span = windows.window(scope=scope, since=since, until=until)
    by_bucket = window.figures_by_bucket(version=version, span=span, bucket=bucket)
    total = aggregates.Figures()
    for figures in by_bucket.values():
        total.merge(figures)
    seconds = window.BUCKETS[bucket].total_seconds()
    traffic = []
    for start in sorted(by_bucket):
        figures = by_bucket[start]
        traffic.append(
            {
                "start": start.isoformat(),
                "predictions": figures.predictions,
                "requests": figures.requests,
                "qps": round(figures.requests / seconds, 6),
                "latency_ms_p50": _round(window.percentile(figures.latency, 0.5)),
                "latency_ms_p95": _round(window.percentile(figures.latency, 0.95)),
                "labelled": figures.labelled,
                "correct": figures.correct,
            }
        )
    task = version.model.task
    live, live_by_source = live_figures.live_by_source(version=version, span=span)
    drifted = drift.drift(version=version, figures=total, span=span)
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
        "drift": drifted,
        # Only staff's word can make a version degraded: a user's false labels cannot.
        "status": window.worst(
            drifted["status"], live_figures.live_status(live=live_by_source["staff"], task=task)
        ),
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
        version=version_,
        since=timestamps.timestamp_parse(text=since, field="since") if since else None,
        until=timestamps.timestamp_parse(text=until, field="until") if until else None,
        bucket=bucket or "hour",
    )
