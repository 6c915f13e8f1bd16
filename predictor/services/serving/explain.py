"""What drives a model: coefficients or feature importances of its fitted pipeline.

A version trained here is explained from its pipeline, on demand. An imported version's
pipeline is never loaded by a server process: its explanation was computed in the import
sandbox and recorded on the version (`importance`).
"""

import numpy as np

from predictor.models import ModelVersion
from predictor.services.serving.runtime import pipeline_for


def version_importance(version: ModelVersion, top: int = 15) -> list[dict] | None:
    """[{"label", "value", "pct"}] sorted by weight, or None when the algorithm has none."""
    if version.is_imported:
        return (version.importance or None) and version.importance[:top]
    return importance_of(pipeline_for(version), top=top)


def importance_of(pipeline, top: int = 15) -> list[dict] | None:
    """The weights of a fitted pipeline (or bare estimator), largest first."""
    steps = getattr(pipeline, "steps", None)
    estimator = steps[-1][1] if steps else pipeline
    if hasattr(estimator, "feature_importances_"):
        weights = np.asarray(estimator.feature_importances_, dtype=float)
    elif hasattr(estimator, "coef_"):
        coef = np.asarray(estimator.coef_, dtype=float)
        weights = np.abs(coef).mean(axis=0) if coef.ndim == 2 else np.abs(coef)
    else:
        return None
    if weights.ndim != 1 or not np.isfinite(weights).all():
        return None
    try:
        names = list(pipeline[:-1].get_feature_names_out()) if steps else []
    except (AttributeError, ValueError, TypeError):
        names = []
    if not names:
        names = [f"x{i}" for i in range(len(weights))]
    if len(names) != len(weights):
        return None
    names = [str(n).split("__", 1)[-1] for n in names]
    order = np.argsort(-weights)[:top]
    peak = float(weights[order[0]]) if len(order) and weights[order[0]] > 0 else 1.0
    return [
        {"label": names[i], "value": float(weights[i]), "pct": 100.0 * float(weights[i]) / peak}
        for i in order
    ]
