"""A model's monitoring page (staff): traffic, latency, outputs, live accuracy, drift."""

from django.shortcuts import render

from predictor import selectors
from predictor.models import Task
from predictor.services import access, monitoring
from predictor.services.errors import ServiceError
from predictor.services.schema import MISSING, OTHER
from predictor.web.common import page_rule


def _columns(points: list[dict], key: str) -> list[dict]:
    peak = max((p[key] or 0 for p in points), default=0) or 1
    return [{**p, "value": p[key], "pct": 100 * (p[key] or 0) / peak} for p in points]


def _bin_label(key: str, edges: list) -> str:
    if key == MISSING:
        return "missing"
    if key == OTHER:
        return "other"
    if edges and key.isdigit() and int(key) + 1 < len(edges):
        return f"{edges[int(key)]:.3g} – {edges[int(key) + 1]:.3g}"
    return key


def _feature_rows(report: dict, version) -> list[dict]:
    rows = []
    for f in report["drift"]["features"]:
        edges = (version.reference_stats or {}).get(f["name"], {}).get("edges", [])
        window_total = sum(f["window"].values()) or 1
        keys = sorted(
            set(f["reference"]) | set(f["window"]),
            key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k),
        )
        bins = [
            {
                "label": _bin_label(k, edges),
                "reference": 100 * f["reference"].get(k, 0.0),
                "window": 100 * f["window"].get(k, 0) / window_total,
            }
            for k in keys
        ]
        peak = max((max(b["reference"], b["window"]) for b in bins), default=0) or 1
        for b in bins:  # the largest share fills the track
            b["reference"], b["window"] = 100 * b["reference"] / peak, 100 * b["window"] / peak
        rows.append({**f, "bins": bins})
    return rows


@page_rule(access.staff_check, what="monitoring")
def monitoring_page(request, name):
    """The monitoring report of a version over a window, as charts (staff only)."""
    model = selectors.model_with_production(name=name, user=request.user)
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
    outputs = report["outputs"]
    bars = None
    if model.task == Task.CLASSIFICATION:
        top = max(outputs.values(), default=0) or 1
        bars = [
            {"label": k, "value": v, "pct": 100 * v / top}
            for k, v in sorted(outputs.items(), key=lambda kv: -kv[1])
        ]
    context.update(
        report=report,
        version=version,
        traffic=_columns(report["traffic"], "predictions"),
        latency=_columns(report["traffic"], "latency_ms_p95"),
        output_bars=bars,
        live_key=live_key,
        live_points=[{**p, "pct": 100 * p["value"]} for p in live_points],
        holdout=(report["live"] or {})
        .get("holdout", {})
        .get(live_key, version.metrics.get(live_key)),
        features=_feature_rows(report, version),
    )
    return render(request, "predictor/monitoring.html", context)
