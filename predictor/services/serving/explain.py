"""What drives a model: coefficients or feature importances of its fitted pipeline.

A version trained here is explained from its pipeline, on demand. An imported version's
pipeline is never loaded by a server process: its explanation was computed in the import
sandbox and recorded on the version (`importance`).
"""

import numpy as np

from predictor.models import ModelVersion
from predictor.services.serving.runtime import pipeline_for


def version_importance(*, version: ModelVersion, top: int = 15) -> list[dict] | None:
    """[{"label", "value", "pct"}] sorted by weight, or None when the algorithm has none."""
    if version.is_imported:
        return (version.importance or None) and version.importance[:top]
    return importance_of(pipeline=pipeline_for(version=version), top=top)


def importance_of(*, pipeline, top: int = 15) -> list[dict] | None:
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
    names, weights = _per_source_feature(pipeline, [str(n) for n in names], weights)
    order = np.argsort(-weights, kind="stable")[:top]
    peak = float(weights[order[0]]) if len(order) and weights[order[0]] > 0 else 1.0
    return [
        {"label": names[i], "value": float(weights[i]), "pct": 100.0 * float(weights[i]) / peak}
        for i in order
    ]


def _per_source_feature(pipeline, names: list[str], weights):
    """The weights summed per input feature: a category's one-hot columns (`housing_own`,
    `housing_rent`) count for their feature (`housing`), found through the pipeline's
    ColumnTransformer: each output column `<transformer>__<name>` comes from one of that
    transformer's columns, the one that `<name>` is or begins with (`<column>_`)."""
    columns = _transformer_columns(pipeline)
    sources = [_source(name, columns) for name in names]
    labels = list(dict.fromkeys(sources))
    summed = np.zeros(len(labels))
    at = {label: i for i, label in enumerate(labels)}
    for source, weight in zip(sources, weights):
        summed[at[source]] += weight
    return labels, summed


def _transformer_columns(pipeline) -> dict[str, list[str]]:
    """transformer name → the input columns it reads, for the pipeline's ColumnTransformer."""
    steps = getattr(pipeline, "steps", None) or []
    from sklearn.compose import ColumnTransformer  # a serving process may never need it

    found = next((s for _, s in steps[:-1] if isinstance(s, ColumnTransformer)), None)
    if found is None:
        return {}
    known = [str(c) for c in getattr(found, "feature_names_in_", [])]
    columns = {}
    for name, _, cols in getattr(found, "transformers_", []):
        try:
            listed = list(np.atleast_1d(cols))
        except TypeError:
            continue  # a callable or slice selector: keep that transformer's labels
        columns[name] = [
            known[c] if isinstance(c, (int, np.integer)) and c < len(known) else str(c)
            for c in listed
        ]
    return columns


def _source(name: str, columns: dict[str, list[str]]) -> str:
    prefix, sep, rest = name.partition("__")
    if not sep:
        return name
    candidates = columns.get(prefix, [])
    if rest in candidates:
        return rest
    starts = [c for c in candidates if rest.startswith(c + "_")]
    return max(starts, key=len) if starts else rest
