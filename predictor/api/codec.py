"""The REST prediction door's body shapes, decoded into records of {feature: value} (then
validated by the core's `schema.rows_validate`, as every door's are):

- `inputs`: one object of features, or a list of them;
- `data` and `instances` (TensorFlow Serving, KServe V1): rows of values in schema order;
- `dataframe_split` and `dataframe_records`: MLflow's scoring-server shapes.

A text/csv body is read by the core (`schema.rows_from_csv`), which batch files share; the
Open Inference Protocol's tensors are decoded in `v2/codec.py`.
"""

from predictor.services.errors import InvalidInput
from predictor.services.schema import row_error

PAYLOAD_KEYS = ("inputs", "data", "instances", "dataframe_split", "dataframe_records")


def _positional(rows, names: list[str], key: str) -> list[dict]:
    if not isinstance(rows, list):
        raise InvalidInput(f"'{key}' must be a list of rows")
    records = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            records.append(row)
            continue
        if not isinstance(row, list):
            raise row_error(
                i, f"expected a list of {len(names)} values in schema order ({', '.join(names)})"
            )
        if len(row) != len(names):
            raise row_error(i, f"expected {len(names)} values ({', '.join(names)}), got {len(row)}")
        records.append(dict(zip(names, row)))
    return records


def records_from_payload(payload, *, feature_names: list[str]) -> list[dict]:
    """Turn any accepted request body shape into a list of {feature: value} records."""
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object with one of: " + ", ".join(PAYLOAD_KEYS))
    present = [k for k in PAYLOAD_KEYS if k in payload]
    unknown = sorted(set(payload) - set(PAYLOAD_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown key(s) {', '.join(map(repr, unknown))} in the body; "
            f"use one of: {', '.join(PAYLOAD_KEYS)}"
        )
    if len(present) != 1:
        raise InvalidInput("the body must have exactly one of: " + ", ".join(PAYLOAD_KEYS))
    key = present[0]
    value = payload[key]
    if key == "inputs":
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            for i, row in enumerate(value, start=1):
                if not isinstance(row, dict):
                    raise row_error(i, "each item of 'inputs' must be an object of features")
            return value
        raise InvalidInput("'inputs' must be an object of features or a list of them")
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidInput("'dataframe_records' must be a list of objects")
        for i, row in enumerate(value, start=1):
            if not isinstance(row, dict):
                raise row_error(i, "each item of 'dataframe_records' must be an object")
        return value
    if key == "dataframe_split":
        if not isinstance(value, dict) or "columns" not in value or "data" not in value:
            raise InvalidInput("'dataframe_split' must be an object with 'columns' and 'data'")
        columns = value["columns"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidInput("'dataframe_split.columns' must be a list of feature names")
        if len(set(columns)) != len(columns):
            raise InvalidInput("'dataframe_split.columns' has a name twice")
        return _positional(value["data"], columns, "dataframe_split.data")
    return _positional(value, feature_names, key)
