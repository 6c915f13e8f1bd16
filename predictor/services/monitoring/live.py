"""Live accuracy: the version's answers against the ground truth given as feedback, over
all feedback and per source (staff, users); only staff's figures can make it degraded.

Nothing is judged on fewer than `LIVE_MIN_LABELS` labelled rows: until then a block's
status is insufficient_data (one wrong answer of one is no evidence), and classification
gives a 95% Wilson score interval for accuracy so a reader sees how sure the figure is."""

import math

import numpy as np
from django.conf import settings

from predictor.models import FeedbackSource, Task
from predictor.services.monitoring import window
from predictor.services.monitoring.window import DEGRADED, INSUFFICIENT, OK

# The feedback sources `live_by_source` reports; anonymous feedback judges nothing.
LIVE_SOURCES = {"staff": FeedbackSource.STAFF, "users": FeedbackSource.USER}


def live_by_source(*, version, span) -> tuple[dict | None, dict]:
    """Live figures over all feedback, and per trusted source (staff, users)."""
    labelled = window.all_rows(version=version, span=span).exclude(actual=None)
    values = labelled.values_list("output", "actual", "actual_source")
    rows = list(values.iterator(chunk_size=5000))
    by_source = {
        key: _live(version, [(p, a) for p, a, s in rows if s == source])
        for key, source in LIVE_SOURCES.items()
    }
    return _live(version, [(p, a) for p, a, _ in rows]), by_source


def wilson_interval(*, correct: int, n: int) -> list[float] | None:
    """THE 95% interval of an accuracy `correct / n` (Wilson score, scipy's; None for n = 0):
    live figures and the compare report both give it."""
    from scipy import stats  # imported when figures are made

    if n <= 0:
        return None
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def _live(version, pairs: list) -> dict | None:
    from sklearn.metrics import f1_score, mean_absolute_error, r2_score

    holdout = {k: v for k, v in (version.metrics or {}).items() if isinstance(v, (int, float))}
    if not pairs:
        return None
    predicted, actual = [p for p, _ in pairs], [a for _, a in pairs]
    task = version.model.task
    if task == Task.CLASSIFICATION:
        predicted, actual = [str(p) for p in predicted], [str(a) for a in actual]
        correct = sum(p == a for p, a in zip(predicted, actual))
        figures = {
            "labelled": len(pairs),
            "accuracy": correct / len(pairs),
            "interval": wilson_interval(correct=correct, n=len(pairs)),
            "f1_macro": float(f1_score(actual, predicted, average="macro", zero_division=0)),
            "holdout": {k: holdout[k] for k in ("accuracy", "f1_macro") if k in holdout},
        }
    else:
        predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
        figures = {
            "labelled": len(pairs),
            "mae": float(mean_absolute_error(actual, predicted)),
            "rmse": float(math.sqrt(np.mean((actual - predicted) ** 2))),
            "r2": float(r2_score(actual, predicted)) if len(pairs) > 1 else None,
            "holdout": {k: holdout[k] for k in ("mae", "rmse", "r2") if k in holdout},
        }
    figures["min_labels"] = settings.LIVE_MIN_LABELS
    figures["status"] = live_status(live=figures, task=task)
    return figures


def enough_labels(*, live: dict | None) -> bool:
    """Whether live figures rest on enough labelled rows to judge a version by."""
    return bool(live) and live["labelled"] >= settings.LIVE_MIN_LABELS


def live_status(*, live: dict | None, task: str) -> str:
    if not live:
        return OK
    if not enough_labels(live=live):
        return INSUFFICIENT
    tolerance = settings.LIVE_METRIC_TOLERANCE
    holdout = live["holdout"]
    if task == Task.CLASSIFICATION and "accuracy" in holdout:
        return DEGRADED if live["accuracy"] < holdout["accuracy"] - tolerance else OK
    if "rmse" in holdout:
        return DEGRADED if live["rmse"] > holdout["rmse"] * (1 + tolerance) else OK
    return OK
