"""Chart shaping for the pages: figures the core computed, scaled to the bars and columns
the templates draw (`pct`: the share of the track a bar fills)."""

from predictor.services.schema import bin_label


def scaled(items: list[dict], key: str = "value") -> list[dict]:
    """Each item with `value` (its `key`) and `pct`, the largest filling the track."""
    peak = max((item[key] or 0 for item in items), default=0) or 1
    return [{**item, "value": item[key], "pct": 100 * (item[key] or 0) / peak} for item in items]


def history_charts(charts: dict) -> dict:
    """The history page's charts (`selectors.prediction_charts`), scaled."""
    return {
        **charts,
        "per_day": scaled(charts["per_day"]),
        "models": [{**m, "bars": scaled(m["bars"])} for m in charts["models"]],
    }


def drift_rows(report: dict, version) -> list[dict]:
    """Each feature's reference and window bins, as shares scaled so the largest fills the
    track."""
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
                "label": bin_label(k, edges),
                "reference": 100 * f["reference"].get(k, 0.0),
                "window": 100 * f["window"].get(k, 0) / window_total,
            }
            for k in keys
        ]
        peak = max((max(b["reference"], b["window"]) for b in bins), default=0) or 1
        for b in bins:  # the largest share fills the track
            b["reference"], b["window"] = 100 * b["reference"] / peak, 100 * b["window"] / peak
        rows.append({**f, "bins": bins, "missing_shown": _missing_shown(f.get("missing"))})
    return rows


def _missing_shown(missing: dict | None) -> dict | None:
    """A feature's share of missing values in training and in the window, in percent
    (`window` None: not known or not shown)."""
    if not missing:
        return None
    window = missing.get("window")
    return {
        "reference": 100 * missing["reference"],
        "window": None if window is None else 100 * window,
    }


def live_verdict(report: dict) -> dict | None:
    """What judges the version's live figures: staff's labels, and whether there are enough
    of them (`short`: how many there are of how many needed)."""
    staff = report["live_by_source"]["staff"]
    if not staff:
        return None
    short = staff["status"] == "insufficient_data"
    return {**staff, "short": short}


def status_text(report: dict) -> str:
    """The report's status in words: insufficient data says of what, when it is the
    staff's labels that are too few."""
    status = report["status"]
    if status != "insufficient_data":
        return status
    staff = report["live_by_source"]["staff"]
    if staff and staff["status"] == "insufficient_data":
        return f"insufficient data ({staff['labelled']} of {staff['min_labels']} labels)"
    return "insufficient data"
