"""Deriving a version's input schema from training data: each column's type and figures,
and the names of the keys the prediction log's binned counts use.

pandas is imported where a frame is read: a server process that serves compiled models
never imports it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from predictor.services.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MAX_CATEGORY_LENGTH = 200
MAX_CATEGORIES_RECORDED = 500

OUTPUT = "__output__"  # the key of the training target's distribution in reference_stats
MISSING = "__missing__"
OTHER = "__other__"


def bin_label(key: str, edges: list) -> str:
    """The words of a binned count's key: a numeric bin as its range, "missing", "other"."""
    if key == MISSING:
        return "missing"
    if key == OTHER:
        return "other"
    if edges and key.isdigit() and int(key) + 1 < len(edges):
        return f"{edges[int(key)]:.4g} – {edges[int(key) + 1]:.4g}"
    return key


def column_is_numeric(*, series: pd.Series) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def column_profile(*, series: pd.Series) -> dict:
    """Type and statistics of one column, as stored in schemas and dataset descriptions."""
    missing = float(series.isna().mean()) if len(series) else 0.0
    if column_is_numeric(series=series):
        values = series.dropna().astype(float)
        empty = values.empty
        return {
            "name": str(series.name),
            "type": NUMERIC,
            "min": None if empty else _finite_or_none(values.min()),
            "max": None if empty else _finite_or_none(values.max()),
            "mean": None if empty else _finite_or_none(values.mean()),
            "std": None if empty else _finite_or_none(values.std(ddof=0)),
            "missing": round(missing, 6),
        }
    counts = series.dropna().astype(str).value_counts()
    return {
        "name": str(series.name),
        "type": CATEGORICAL,
        "categories": [str(c) for c in counts.index[:MAX_CATEGORIES_RECORDED]],
        "missing": round(missing, 6),
    }


def schema_from_frame(*, X: pd.DataFrame, nullable: bool = True) -> list[dict]:
    """The input schema of a pipeline trained on X (its pipelines impute, so nullable)."""
    schema = []
    for name in X.columns:
        profile = column_profile(series=X[name])
        profile["nullable"] = nullable
        schema.append(profile)
    return schema


def sensitive_check(*, names, features: list[str]) -> list[str]:
    """A list of feature names to treat as sensitive (each once, each an input feature)."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput("'sensitive' must be a list of feature names", field="sensitive")
    unknown = [n for n in names if n not in features]
    if unknown:
        raise InvalidInput(
            f"'sensitive' names {', '.join(map(repr, unknown))}, not an input feature; the "
            f"features are: {', '.join(features)}",
            field="sensitive",
        )
    return list(dict.fromkeys(names))
