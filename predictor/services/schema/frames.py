"""Rows to and from pandas frames, in a schema's order and types (training, evaluation,
the sklearn runtime); pandas is imported only when a frame is made."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from predictor.services.schema.derive import NUMERIC

if TYPE_CHECKING:
    import pandas as pd


def frame_from_records(*, schema: list[dict], records: list[dict]) -> pd.DataFrame:
    """A DataFrame in schema order with the dtypes the pipeline was trained on."""
    data = {}
    for feature in schema:
        name = feature["name"]
        values = [r[name] for r in records]
        if feature["type"] == NUMERIC:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=object)
    import pandas as pd

    return pd.DataFrame(data, columns=[f["name"] for f in schema])


def records_from_frame(*, X: pd.DataFrame, schema: list[dict]) -> list[dict]:
    """Rows of a feature frame as records of plain values (None where missing)."""
    records = []
    for row in X[[f["name"] for f in schema]].itertuples(index=False):
        record = {}
        for feature, value in zip(schema, row):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = None
            elif feature["type"] == NUMERIC:
                value = float(value)
            else:
                value = str(value)
            record[feature["name"]] = value
        records.append(record)
    return records
