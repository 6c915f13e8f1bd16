"""THE validation of rows against a version's schema: every door that takes feature values
(REST API, HTML form, batch CSV, Open Inference Protocol) goes through `rows_validate`, so
a value accepted in one is accepted in all. Row numbers in messages start at 1.

The fast path (`_valid_as_given`) sits beside the row-by-row rule it speeds up: it only
says "valid as given" when the rule would pass every value unchanged, which
tests/services/test_validation_fast.py checks property by property.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from predictor.services.errors import InvalidInput
from predictor.services.schema.derive import CATEGORICAL, MAX_CATEGORY_LENGTH, NUMERIC  # noqa: F401 (tests read them here)

MAX_REPORTED_ERRORS = 20


def row_error(row: int | str, message: str, feature: str | None = None) -> InvalidInput:
    """An error for one row: `row` is its number (JSON bodies), "line N" (CSV), or 0."""
    if isinstance(row, str):
        prefix, details = f"{row}: ", {"line": int(row.removeprefix("line "))}
    else:
        prefix, details = (f"row {row}: ", {"row": row}) if row else ("", {})
    if feature is not None:
        details["feature"] = feature
    return InvalidInput(prefix + message, **details)


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
        raise row_error(row, f"feature '{name}' may not be null", name)
    if feature["type"] == NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise row_error(row, f"feature '{name}' must be a number, got {_kind(value)}", name)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise row_error(row, f"feature '{name}' must be a finite number", name)
        return number
    if not isinstance(value, str):
        raise row_error(
            row, f"feature '{name}' must be a string (a category), got {_kind(value)}", name
        )
    if len(value) > MAX_CATEGORY_LENGTH:
        raise row_error(
            row, f"feature '{name}' is longer than {MAX_CATEGORY_LENGTH} characters", name
        )
    if "\x00" in value:
        raise row_error(row, f"feature '{name}' contains a NUL character", name)
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
            raise row_error(
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
            raise row_error(row, f"feature '{name}' is missing", name)
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
_NONE_TYPE = type(None)


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
    if _NONE_TYPE in kinds and feature.get("nullable", True):
        kinds.discard(_NONE_TYPE)
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


# --- text (HTML forms, CSV cells) -------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def value_from_text(text, feature: dict, row: int = 0):
    """A form field's or CSV cell's text as the value the schema expects (blank → null)."""
    text = "" if text is None else str(text).strip()
    if text == "":
        return None
    if "\x00" in text:
        raise row_error(
            row, f"feature '{feature['name']}' contains a NUL character", feature["name"]
        )
    if feature["type"] == NUMERIC:
        if not _NUMBER_TEXT.match(text):
            raise row_error(
                row,
                f"feature '{feature['name']}' must be a number, got {text[:40]!r}",
                feature["name"],
            )
        number = float(text)
        if not math.isfinite(number):
            raise row_error(
                row, f"feature '{feature['name']}' must be a finite number", feature["name"]
            )
        return number
    return text


def lines_invalid(*, errors: list[str]) -> InvalidInput:
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
    return InvalidInput(
        f"{len(errors)} line(s) are not valid{more}: " + "; ".join(shown), errors=shown
    )
