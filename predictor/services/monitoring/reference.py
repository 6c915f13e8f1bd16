"""The training distribution of each input (and of the target) a version keeps: the
reference of the prediction log's binned counts and of drift against live traffic.

A sensitive feature keeps coarse bins only: no sample of raw values, edges rounded to two
significant digits (the outer ones outwards, so no training value is written down), and
every bin of fewer than `PRIVACY_MIN_COUNT` rows merged into a neighbour (all of them
dropped when there are fewer rows in all); categories seen fewer times are left out (live
values of them count as "other"). Drift on such a feature uses the binned test.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

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
    counts = np.bincount(bin_indices(values=values, edges=edges), minlength=edges.size - 1)
    step = max(1, values.size // REFERENCE_SAMPLE)
    return {
        "type": NUMERIC,
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "sample": [float(v) for v in np.sort(values)[::step][:REFERENCE_SAMPLE]],
    }


def _coarse(value: float, outwards: int = 0) -> float:
    """`value` at two significant digits (rounded down with -1, up with 1)."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    step = {-1: math.floor, 0: round, 1: math.ceil}[outwards]
    return float(step(value / scale) * scale)


def _merge_small(edges: list[float], counts: list[int], least: int) -> tuple[list, list]:
    """Merge each bin of fewer than `least` rows into its smaller neighbour until none is
    left (one bin of fewer rows than that: nothing kept)."""
    edges, counts = list(edges), list(counts)
    while len(counts) > 1 and min(counts) < least:
        i = counts.index(min(counts))
        j = i - 1 if i == len(counts) - 1 or (i > 0 and counts[i - 1] <= counts[i + 1]) else i + 1
        low = min(i, j)
        counts[low : low + 2] = [counts[i] + counts[j]]
        del edges[low + 1]
    if sum(counts) < least:
        return [], []
    return edges, counts


def _sealed_numeric_reference(values: np.ndarray) -> dict:
    """Bins of a sensitive feature: coarse edges, no bin under PRIVACY_MIN_COUNT, no sample."""
    least = max(1, settings.PRIVACY_MIN_COUNT)
    if values.size < least:
        return {"type": NUMERIC, "edges": [], "counts": [], "sealed": True}
    quantiles = np.quantile(values, np.linspace(0, 1, REFERENCE_BINS + 1))
    inner = sorted({_coarse(float(q)) for q in quantiles[1:-1]})
    low, high = _coarse(float(values.min()), -1), _coarse(float(values.max()), 1)
    edges = [low, *(e for e in inner if low < e < high), high]
    if len(edges) < 2 or edges[0] == edges[-1]:
        edges = [low, high]
    counts = np.bincount(bin_indices(values=values, edges=edges), minlength=len(edges) - 1)
    edges, counts = _merge_small(edges, [int(c) for c in counts], least)
    return {"type": NUMERIC, "edges": edges, "counts": counts, "sealed": True}


def bin_indices(*, values, edges) -> np.ndarray:
    """Bin of each value on reference edges: below the first edge → 0, above the last → the
    last bin (live values outside the training range still land somewhere)."""
    edges = np.asarray(edges, dtype=float)
    inner = edges[1:-1]
    return np.searchsorted(inner, np.asarray(values, dtype=float), side="right")


def _reference(series: pd.Series, *, sealed: bool = False) -> dict:
    if column_is_numeric(series=series):
        values = series.dropna().astype(float).to_numpy()
        stats = _sealed_numeric_reference(values) if sealed else _numeric_reference(values)
    else:
        present = series.dropna().astype(str)
        freq = present.value_counts(normalize=True)
        if sealed:
            seen = present.value_counts()
            freq = freq[seen[freq.index] >= max(1, settings.PRIVACY_MIN_COUNT)]
        stats = {
            "type": CATEGORICAL,
            "frequencies": {
                str(k): round(float(v), 6) for k, v in freq.iloc[:MAX_CATEGORIES_RECORDED].items()
            },
        }
        if sealed:
            stats["sealed"] = True
    stats["missing"] = round(float(series.isna().mean()), 6) if len(series) else 0.0
    return stats


def reference_stats_from_frame(
    *,
    X: pd.DataFrame,
    y: pd.Series | None = None,
    classification: bool = False,
    sensitive: list[str] | tuple = (),
) -> dict:
    """Distributions of the training inputs (and of the target, under `OUTPUT`: class
    frequencies by label text, or bins of the values), for the prediction log's binned
    counts and for drift against live traffic; `sensitive` features as coarse bins only."""
    stats = {name: _reference(X[name], sealed=name in sensitive) for name in X.columns}
    if y is not None:
        y = y.rename(OUTPUT)
        stats[OUTPUT] = _reference(y.astype(str) if classification else y)
    return stats
