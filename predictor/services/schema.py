"""A version's input schema: derive it from training data, validate and coerce rows.

Every door that takes feature values (REST API, HTML form, batch CSV, Open Inference
Protocol) goes through `rows_validate`, so a value accepted in one is accepted in all.
Row numbers in messages start at 1.

pandas is imported where a frame is made or read: a server process that serves compiled
models never imports it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from predictor.services.errors import InvalidInput

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MAX_CATEGORY_LENGTH = 200
MAX_CATEGORIES_RECORDED = 500
MAX_REPORTED_ERRORS = 20
PAYLOAD_KEYS = ("inputs", "data", "instances", "dataframe_split", "dataframe_records")


def column_is_numeric(series: pd.Series) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def column_profile(series: pd.Series) -> dict:
    """Type and statistics of one column, as stored in schemas and dataset descriptions."""
    missing = float(series.isna().mean()) if len(series) else 0.0
    if column_is_numeric(series):
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


def schema_from_frame(X: pd.DataFrame, *, nullable: bool = True) -> list[dict]:
    """The input schema of a pipeline trained on X (its pipelines impute, so nullable)."""
    schema = []
    for name in X.columns:
        profile = column_profile(X[name])
        profile["nullable"] = nullable
        schema.append(profile)
    return schema


OUTPUT = "__output__"  # the key of the training target's distribution in reference_stats
MISSING = "__missing__"
OTHER = "__other__"


# --- requests ------------------------------------------------------------------------------


def _row_error(row: int | str, message: str, feature: str | None = None) -> InvalidInput:
    """An error for one row: `row` is its number (JSON bodies), "line N" (CSV), or 0."""
    if isinstance(row, str):
        prefix, details = f"{row}: ", {"line": int(row.removeprefix("line "))}
    else:
        prefix, details = (f"row {row}: ", {"row": row}) if row else ("", {})
    if feature is not None:
        details["feature"] = feature
    return InvalidInput(prefix + message, **details)


def _positional(rows, names: list[str], key: str) -> list[dict]:
    if not isinstance(rows, list):
        raise InvalidInput(f"'{key}' must be a list of rows")
    records = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            records.append(row)
            continue
        if not isinstance(row, list):
            raise _row_error(
                i, f"expected a list of {len(names)} values in schema order ({', '.join(names)})"
            )
        if len(row) != len(names):
            raise _row_error(
                i, f"expected {len(names)} values ({', '.join(names)}), got {len(row)}"
            )
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
                    raise _row_error(i, "each item of 'inputs' must be an object of features")
            return value
        raise InvalidInput("'inputs' must be an object of features or a list of them")
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidInput("'dataframe_records' must be a list of objects")
        for i, row in enumerate(value, start=1):
            if not isinstance(row, dict):
                raise _row_error(i, "each item of 'dataframe_records' must be an object")
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


@dataclass
class ValidRows:
    records: list[dict]
    # Per row, the numeric values far outside the training range (`out_of_range`).
    warnings: list[list[dict]] = field(default_factory=list)
    # Unseen categories, in words (the pipelines ignore them; pages mention them).
    notes: list[str] = field(default_factory=list)
    # A CSV's columns outside the schema (an id, say), and their cells per row, as given.
    extra_columns: list[str] = field(default_factory=list)
    extras: list[list[str]] = field(default_factory=list)


def _coerce(value, feature: dict, row: int):
    name = feature["name"]
    if value is None:
        if feature.get("nullable", True):
            return None
        raise _row_error(row, f"feature '{name}' may not be null", name)
    if feature["type"] == NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _row_error(row, f"feature '{name}' must be a number, got {_kind(value)}", name)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _row_error(row, f"feature '{name}' must be a finite number", name)
        return number
    if not isinstance(value, str):
        raise _row_error(
            row, f"feature '{name}' must be a string (a category), got {_kind(value)}", name
        )
    if len(value) > MAX_CATEGORY_LENGTH:
        raise _row_error(
            row, f"feature '{name}' is longer than {MAX_CATEGORY_LENGTH} characters", name
        )
    if "\x00" in value:
        raise _row_error(row, f"feature '{name}' contains a NUL character", name)
    return value


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _check_count(count: int, max_rows: int) -> None:
    if not count:
        raise InvalidInput("empty batch: send at least one row")
    if count > max_rows:
        raise InvalidInput(f"too many rows: {count}, the limit is {max_rows} per request")


def out_of_range(schema: list[dict], record: dict) -> list[dict]:
    """The numeric values of a record below the training minimum or above the maximum by
    more than the range's width: [{"feature", "value", "min", "max"}]."""
    return _far_of(_ranges(schema), record)


def _ranges(schema: list[dict]) -> list[tuple]:
    """(name, floor, ceiling, min, max) of each numeric feature with a training range."""
    return [
        (f["name"], low - (high - low), high + (high - low), low, high)
        for f in schema
        if f["type"] == NUMERIC and None not in (low := f.get("min"), high := f.get("max"))
    ]


def _far_of(ranges: list[tuple], record: dict) -> list[dict]:
    return [
        {"feature": name, "value": value, "min": low, "max": high}
        for name, floor, ceiling, low, high in ranges
        if isinstance(value := record.get(name), (int, float))
        and not isinstance(value, bool)
        and (value < floor or value > ceiling)
    ]


_ABSENT = object()  # a feature the record does not have


def _clean_row(
    record: dict, schema: list[dict], row: int | str, warnings: list, known: set | None = None
) -> dict:
    """One record checked against the schema, its values coerced (InvalidInput if not).
    `known`: the schema's names, when the caller checks many rows."""
    if known is None:
        known = {f["name"] for f in schema}
    if len(record) != len(known) or not known.issuperset(record):
        unknown = [k for k in record if k not in known]
        if unknown:
            names = ", ".join(f["name"] for f in schema)
            raise _row_error(
                row, f"unknown feature {unknown[0]!r}; the features are: {names}", str(unknown[0])
            )
    out = {}
    for feature in schema:
        name = feature["name"]
        value = record.get(name, _ABSENT)
        if type(value) is float and feature["type"] == NUMERIC and math.isfinite(value):
            out[name] = value  # the common case, as _coerce would return it
            continue
        if value is _ABSENT:
            raise _row_error(row, f"feature '{name}' is missing", name)
        value = _coerce(value, feature, row)
        if (
            feature["type"] == CATEGORICAL
            and value is not None
            and feature.get("categories")
            and value not in feature["categories"]
        ):
            where = row if isinstance(row, str) else f"row {row}"
            warnings.append(
                f"{where}: feature '{name}' has a category not seen in training: {value!r}"
            )
        out[name] = value
    return out


_FEW = 8  # up to this many rows, numbers are compared in Python (numpy's per-call cost)
_NONE = type(None)


def _valid_as_given(schema: list[dict], records: list[dict]) -> list[list[dict]] | None:
    """When every record holds exactly the schema's names, in its order, each number a
    finite float and each category a string seen in training (or null where the feature
    allows it), the records are valid as they are (the common case): checked a column at a
    time, a category once per distinct value, and their warnings found by array
    comparisons. None otherwise; the row-by-row check then finds and words any problem,
    unseen categories included."""
    names = [f["name"] for f in schema]
    if not names or not all(map(names.__eq__, map(list, records))):
        return None
    flat = list(chain.from_iterable(map(dict.values, records)))
    width = len(names)
    if set(map(type, flat)) == {float} and all(f["type"] == NUMERIC for f in schema):
        if not all(map(math.isfinite, flat)):  # numbers only, checked in one pass
            return None
    elif not all(_column_valid(f, flat[j::width]) for j, f in enumerate(schema)):
        return None
    ranges = _ranges(schema)
    if len(records) <= _FEW or not ranges:
        return [_far_of(ranges, record) for record in records]
    warnings = [[] for _ in records]
    columns = np.array([flat[names.index(r[0]) :: width] for r in ranges], dtype=np.float64)
    far = (columns < [[r[1]] for r in ranges]) | (columns > [[r[2]] for r in ranges])
    for i in np.flatnonzero(far.any(axis=0)).tolist():
        warnings[i] = _far_of(ranges, records[i])
    return warnings


def _column_valid(feature: dict, column: list) -> bool:
    """Whether the row-by-row check passes every value of one feature silently, unchanged."""
    kinds = set(map(type, column))
    if _NONE in kinds and feature.get("nullable", True):
        kinds.discard(_NONE)
        column = [value for value in column if value is not None]
    if feature["type"] == NUMERIC:
        return kinds <= {float} and all(map(math.isfinite, column))
    if not kinds <= {str}:
        return False
    values, known = set(column), feature.get("categories")
    return all(len(v) <= MAX_CATEGORY_LENGTH and "\x00" not in v for v in values) and (
        not known or values.issubset(known)
    )


def rows_validate(*, schema: list[dict], records: list[dict], max_rows: int) -> ValidRows:
    """Check every record against the schema; coerce values; collect unseen categories."""
    _check_count(len(records), max_rows)
    if (warnings := _valid_as_given(schema, records)) is not None:
        return ValidRows(records=records, warnings=warnings)
    notes = []
    known = {f["name"] for f in schema}
    clean = [
        _clean_row(record, schema, i, notes, known) for i, record in enumerate(records, start=1)
    ]
    ranges = _ranges(schema)
    return ValidRows(records=clean, warnings=[_far_of(ranges, r) for r in clean], notes=notes)


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


def example_record(schema: list[dict]) -> dict:
    """A typical input: the mean of each numeric feature, the most frequent category."""
    record = {}
    for feature in schema:
        if feature["type"] == NUMERIC:
            mean = feature.get("mean")
            record[feature["name"]] = round(mean, 3) if mean is not None else 0.0
        else:
            cats = feature.get("categories") or [""]
            record[feature["name"]] = cats[0]
    return record


def records_from_frame(X: pd.DataFrame, schema: list[dict]) -> list[dict]:
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


# --- text input (HTML forms, CSV files) -----------------------------------------------------

_NUMBER_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def value_from_text(text, feature: dict, row: int = 0):
    """A form field's or CSV cell's text as the value the schema expects (blank → null)."""
    text = "" if text is None else str(text).strip()
    if text == "":
        return None
    if "\x00" in text:
        raise _row_error(
            row, f"feature '{feature['name']}' contains a NUL character", feature["name"]
        )
    if feature["type"] == NUMERIC:
        if not _NUMBER_TEXT.match(text):
            raise _row_error(
                row,
                f"feature '{feature['name']}' must be a number, got {text[:40]!r}",
                feature["name"],
            )
        number = float(text)
        if not math.isfinite(number):
            raise _row_error(
                row, f"feature '{feature['name']}' must be a finite number", feature["name"]
            )
        return number
    return text


def _lines_invalid(errors: list[str]) -> InvalidInput:
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
    return InvalidInput(
        f"{len(errors)} line(s) are not valid{more}: " + "; ".join(shown), errors=shown
    )


def rows_from_csv(text: str, *, schema: list[dict], max_rows: int) -> ValidRows:
    """Validated rows of CSV text whose header names the features (other columns, such as
    an id, are ignored); every bad line is reported by its number, in one pass."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInput(f"the CSV could not be read: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InvalidInput("the CSV is empty: expected a header row of feature names")
    header = [c.strip() for c in rows[0]]
    names = [f["name"] for f in schema]
    missing = [n for n in names if n not in header]
    if missing:
        raise InvalidInput(f"the CSV has no column for feature {missing[0]!r}")
    if len(set(header)) != len(header):
        raise InvalidInput("the CSV header names a column twice")
    by_name = {f["name"]: f for f in schema}
    lines = [(n, row) for n, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)]
    _check_count(len(lines), max_rows)
    records, errors, warnings, extras = [], [], [], []
    extra_at = [i for i, h in enumerate(header) if h not in by_name]
    for line, row in lines:
        if len(row) != len(header):
            errors.append(f"line {line}: expected {len(header)} cells, got {len(row)}")
            continue
        try:
            record = {
                h: value_from_text(c, by_name[h], f"line {line}")
                for h, c in zip(header, row)
                if h in by_name
            }
            records.append(_clean_row(record, schema, f"line {line}", warnings))
            extras.append([row[i] for i in extra_at])
        except InvalidInput as exc:
            errors.append(exc.message)
    if errors:
        raise _lines_invalid(errors)
    ranges = _ranges(schema)
    return ValidRows(
        records=records,
        warnings=[_far_of(ranges, r) for r in records],
        notes=warnings,
        extra_columns=[header[i] for i in extra_at],
        extras=extras,
    )


def sensitive_check(names, features: list[str]) -> list[str]:
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
