"""A model's monitoring page (staff): traffic, latency, outputs, live accuracy, drift."""

from django.shortcuts import render

from predictor import selectors
from predictor.models import Task
from predictor.services import access, monitoring
from predictor.services.errors import ServiceError
from predictor.web import charts
from predictor.web.common import page_rule


@page_rule(access.staff_check, what="monitoring")
def monitoring_page(request, name):
    """The monitoring report of a version over a window, as charts (staff only)."""
    model = selectors.model_usable(name=name, user=request.user)
    versions = list(selectors.model_versions(model))
    context = {"model": model, "versions": versions, "query": request.GET, "error": None}
    try:
        report = monitoring.version_report(
            model_name=name,
            user=request.user,
            version=request.GET.get("version") or None,
            since=request.GET.get("since") or None,
            until=request.GET.get("until") or None,
            bucket=request.GET.get("bucket") or None,
        )
    except ServiceError as exc:
        context["error"] = exc.message
        return render(request, "predictor/monitoring.html", context, status=exc.status_code)
    version = next(v for v in versions if v.version == report["version"])
    live_key = "accuracy" if model.task == Task.CLASSIFICATION else "rmse"
    live_points = []
    for point in report["traffic"]:
        if point["labelled"] and model.task == Task.CLASSIFICATION:
            live_points.append(
                {
                    "start": point["start"],
                    "value": point["correct"] / point["labelled"],
                    "n": point["labelled"],
                }
            )
    bars = None
    if model.task == Task.CLASSIFICATION:
        ranked = sorted(report["outputs"].items(), key=lambda kv: -kv[1])
        bars = charts.scaled([{"label": k, "value": v} for k, v in ranked])
    context.update(
        report=report,
        version=version,
        traffic=charts.scaled(report["traffic"], "predictions"),
        latency=charts.scaled(report["traffic"], "latency_ms_p95"),
        output_bars=bars,
        live_key=live_key,
        live_points=[{**p, "pct": 100 * p["value"]} for p in live_points],
        holdout=(report["live"] or {})
        .get("holdout", {})
        .get(live_key, version.metrics.get(live_key)),
        features=charts.drift_rows(report, version),
        verdict=charts.live_verdict(report),
        status_text=charts.status_text(report),
    )
    return render(request, "predictor/monitoring.html", context)
