"""The training distribution of each input (and of the target) a version keeps: the
reference of the prediction log's binned counts and of drift against live traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from predictor.services.schema import (
    CATEGORICAL,
    MAX_CATEGORIES_RECORDED,
    NUMERIC,
    OUTPUT,
    column_is_numeric,
)

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_BINS = 10
REFERENCE_SAMPLE = 500


def _numeric_reference(values: np.ndarray) -> dict:
    """Bins from the training quantiles (deciles, merged where equal), their counts, and a
    sorted sample for two-sample tests."""
    if not values.size:
        return {"type": NUMERIC, "edges": [], "counts": [], "sample": []}
    edges = np.unique(np.quantile(values, np.linspace(0, 1, REFERENCE_BINS + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    counts = np.bincount(bin_indices(values, edges), minlength=edges.size - 1)
    step = max(1, values.size // REFERENCE_SAMPLE)
    return {
        "type": NUMERIC,
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "sample": [float(v) for v in np.sort(values)[::step][:REFERENCE_SAMPLE]],
    }


def bin_indices(values, edges) -> np.ndarray:
    """Bin of each value on reference edges: below the first edge → 0, above the last → the
    last bin (live values outside the training range still land somewhere)."""
    edges = np.asarray(edges, dtype=float)
    inner = edges[1:-1]
    return np.searchsorted(inner, np.asarray(values, dtype=float), side="right")


def _reference(series: pd.Series) -> dict:
    if column_is_numeric(series):
        stats = _numeric_reference(series.dropna().astype(float).to_numpy())
    else:
        freq = series.dropna().astype(str).value_counts(normalize=True)
        stats = {
            "type": CATEGORICAL,
            "frequencies": {
                str(k): round(float(v), 6) for k, v in freq.iloc[:MAX_CATEGORIES_RECORDED].items()
            },
        }
    stats["missing"] = round(float(series.isna().mean()), 6) if len(series) else 0.0
    return stats


def reference_stats_from_frame(
    X: pd.DataFrame, y: pd.Series | None = None, *, classification: bool = False
) -> dict:
    """Distributions of the training inputs (and of the target, under `OUTPUT`: class
    frequencies by label text, or bins of the values), for the prediction log's binned
    counts and for drift against live traffic."""
    stats = {name: _reference(X[name]) for name in X.columns}
    if y is not None:
        y = y.rename(OUTPUT)
        stats[OUTPUT] = _reference(y.astype(str) if classification else y)
    return stats
