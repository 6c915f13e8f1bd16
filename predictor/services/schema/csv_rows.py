"""CSV text to validated rows, for every door that sends a CSV: the API's text/csv body and
the batch-scoring files (a service of its own, so the rule is here, not in a door)."""

import csv
import io

from predictor.services.errors import InvalidInput
from predictor.services.schema.validate import (
    ValidRows,
    _check_count,
    _clean_row,
    _far_of,
    _ranges,
    lines_invalid,
    value_from_text,
)


def rows_from_csv(*, text: str, schema: list[dict], max_rows: int) -> ValidRows:
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
        raise lines_invalid(errors=errors)
    ranges = _ranges(schema)
    return ValidRows(
        records=records,
        warnings=[_far_of(ranges, r) for r in records],
        notes=warnings,
        extra_columns=[header[i] for i in extra_at],
        extras=extras,
    )
