"""Rows that are valid as given (finite floats, categories seen in training, nulls where
allowed) are checked a column at a time (`_valid_as_given`); any batch gets exactly what the
row-by-row check gives: the same records, in schema order, the same warnings and notes, or
the same error."""

import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from predictor.services.errors import InvalidInput
from predictor.services.schema import validate as schema

VALUES = st.one_of(
    st.floats(min_value=-5, max_value=5),  # within or near the training range
    st.floats(min_value=-1e6, max_value=1e6),  # often far outside it
    st.sampled_from([0.0, -0.0, 1.0, 1e308, -1e308, 5e-324]),
    st.integers(-10, 10),
    st.booleans(),
    st.none(),
    st.sampled_from(["1.5", "", "abc"]),
    st.sampled_from([math.nan, math.inf, -math.inf]),  # what a Python caller can pass
)


COLOURS = st.one_of(
    st.sampled_from(["red", "green"]),  # seen in training: the fast path's own case
    st.sampled_from(["blue", "", "re\x00d", "x" * 201, None, 1.0, True, ["red"]]),
)


def edges(feature, finite=False):
    """Floats on the edges of "far outside the range" (low - width, high + width), and
    (unless `finite`) the ones that are not finite."""
    special = [] if finite else [math.nan, math.inf, -math.inf]
    if "min" in feature:
        low, high = feature["min"], feature["max"]
        special += [low - (high - low), high + (high - low)]
    return st.sampled_from(special) if special else st.floats(-5, 5)


def valid_values(feature):
    """Values the row-by-row check keeps as they are (null only where allowed)."""
    if feature["type"] == schema.CATEGORICAL:
        values = st.sampled_from(feature.get("categories") or ["red", "any"])
    else:
        values = st.one_of(st.floats(-5, 5), st.floats(-1e6, 1e6), edges(feature, finite=True))
    return st.one_of(values, st.none()) if feature["nullable"] else values


@st.composite
def batches(draw):
    width = draw(st.integers(1, 5))
    features = []
    for i in range(width):
        feature = {"name": f"f{i}", "type": schema.NUMERIC, "nullable": draw(st.booleans())}
        if draw(st.booleans()):
            low = draw(st.floats(-3, 3))
            feature.update(min=low, max=low + draw(st.floats(0, 3)))
        features.append(feature)
    if draw(st.integers(0, 2)) == 0:
        colour = {"name": "colour", "type": schema.CATEGORICAL, "nullable": draw(st.booleans())}
        if draw(st.integers(0, 3)):  # a schema may have no categories recorded
            colour["categories"] = ["red", "green"]
        features.insert(draw(st.integers(0, len(features))), colour)
    names = [f["name"] for f in features]
    # A third of the batches are valid as given, but for one bad value in half of them
    # (the fast path's own case: one bad value or one record out of shape sends a batch
    # row by row); a third are floats in shape, some not finite; a third anything.
    kind = draw(st.sampled_from(["valid", "floats", "any"]))
    records = []
    for _ in range(draw(st.integers(1, 24))):
        if kind == "valid":
            record = {f["name"]: draw(valid_values(f)) for f in features}
        elif kind == "floats":  # some exactly on a range's edge, or not finite
            record = {
                f["name"]: draw(st.one_of(st.floats(-5, 5), st.floats(-1e6, 1e6), edges(f)))
                for f in features
            }
        else:
            record = {n: draw(VALUES) for n in names}
        if kind != "valid" and "colour" in record:
            record["colour"] = draw(COLOURS)
        change = draw(st.integers(0, 20)) if kind == "any" else None
        if change == 0 and record:
            record.pop(draw(st.sampled_from(names)))
        elif change == 1:
            record["extra"] = 1.0
        elif change == 2:
            record = dict(reversed(list(record.items())))
        records.append(record)
    if kind == "valid" and draw(st.booleans()):
        row = draw(st.sampled_from(records))
        row[draw(st.sampled_from(names))] = draw(st.one_of(VALUES, COLOURS))
    return features, records


def outcome(features, records):
    try:
        valid = schema.rows_validate(schema=features, records=records, max_rows=100)
    except InvalidInput as exc:
        return ("error", exc.message)
    return (
        [list(r.items()) for r in valid.records],
        valid.warnings,
        valid.notes,
    )


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_fast_check_answers_what_the_row_by_row_check_answers(batch):
    features, records = batch
    fast = outcome(features, [dict(r) for r in records])
    real = schema._valid_as_given
    schema._valid_as_given = lambda *a: None  # the row-by-row check alone
    try:
        slow = outcome(features, [dict(r) for r in records])
    finally:
        schema._valid_as_given = real
    assert fast == slow


def test_far_values_are_warned_on_their_rows_only():
    features = [
        {"name": "a", "type": schema.NUMERIC, "min": 0.0, "max": 1.0},
        {"name": "b", "type": schema.NUMERIC, "min": 0.0, "max": 1.0},
        {"name": "c", "type": schema.NUMERIC},  # no training range: never far
    ]
    records = [{"a": 0.5, "b": 0.5, "c": 1e9}, {"a": 2.5, "b": -1.5, "c": 0.0}] * 500
    records[2] = {"a": 0.5, "b": 2.5, "c": 0.0}
    assert schema._valid_as_given(features, records) is not None  # the fast path ran
    valid = schema.rows_validate(schema=features, records=records, max_rows=1000)
    assert valid.warnings[0] == []
    assert valid.warnings[1] == [
        {"feature": "a", "value": 2.5, "min": 0.0, "max": 1.0},
        {"feature": "b", "value": -1.5, "min": 0.0, "max": 1.0},
    ]
    assert valid.warnings[2] == [{"feature": "b", "value": 2.5, "min": 0.0, "max": 1.0}]
    assert sum(1 for w in valid.warnings if w) == 501


@pytest.mark.parametrize(
    "value, message",
    [(True, "must be a number, got a boolean"), ("1", "must be a number, got a string")],
)
def test_a_value_that_is_not_a_float_still_gets_its_message(value, message):
    features = [{"name": "a", "type": schema.NUMERIC}, {"name": "b", "type": schema.NUMERIC}]
    records = [{"a": 1.0, "b": 2.0}] * 3 + [{"a": 1.0, "b": value}]
    with pytest.raises(InvalidInput) as caught:
        schema.rows_validate(schema=features, records=records, max_rows=10)
    assert caught.value.message == f"row 4: feature 'b' {message}"


CREDIT = [
    {"name": "age", "type": schema.NUMERIC, "min": 18.0, "max": 70.0, "nullable": True},
    {"name": "income", "type": schema.NUMERIC, "min": 0.0, "max": 1e5, "nullable": True},
    {"name": "housing", "type": schema.CATEGORICAL, "categories": ["own", "rent"]},
]


def credit_rows(count):
    return [
        {"age": 20.0 + i % 40, "income": None if i % 7 == 0 else 1000.0 * i, "housing": "rent"}
        for i in range(count)
    ]


def test_a_large_mixed_batch_is_checked_by_columns_with_its_nulls_and_warnings():
    records = credit_rows(1000)
    records[10]["housing"] = None  # nullable (by default): null, as the row check keeps it
    assert schema._valid_as_given(CREDIT, records) is not None  # the fast path ran
    valid = schema.rows_validate(schema=CREDIT, records=records, max_rows=1000)
    assert valid.records == records and valid.notes == []
    assert valid.records[7]["income"] is None and valid.records[10]["housing"] is None
    # income's range is 0..1e5, far above it from 2e5: rows 201.. (i * 1000 > 2e5)
    far = [i for i, w in enumerate(valid.warnings) if w]
    assert far == [i for i in range(201, 1000) if i % 7]
    assert valid.warnings[300] == [{"feature": "income", "value": 300000.0, "min": 0.0, "max": 1e5}]


def test_an_unseen_category_in_a_large_batch_gets_its_note_on_its_row():
    records = credit_rows(1000)
    records[699]["housing"] = "boat"
    assert schema._valid_as_given(CREDIT, records) is None  # worded row by row
    valid = schema.rows_validate(schema=CREDIT, records=records, max_rows=1000)
    assert valid.notes == ["row 700: feature 'housing' has a category not seen in training: 'boat'"]
    assert valid.records[699]["housing"] == "boat"


@pytest.mark.parametrize(
    "value, message",
    [
        (3, "must be a string (a category), got a number"),
        ("r" * 201, "is longer than 200 characters"),
        ("re\x00nt", "contains a NUL character"),
    ],
)
@pytest.mark.parametrize("recorded", [True, False], ids=["categories", "no categories"])
def test_a_bad_category_in_a_large_batch_is_refused_on_its_row(value, message, recorded):
    features = (
        CREDIT if recorded else [{k: v for k, v in f.items() if k != "categories"} for f in CREDIT]
    )
    records = credit_rows(1000)
    records[499]["housing"] = value
    with pytest.raises(InvalidInput) as caught:
        schema.rows_validate(schema=features, records=records, max_rows=1000)
    assert caught.value.message == f"row 500: feature 'housing' {message}"


def test_a_null_where_the_schema_forbids_it_is_refused_in_a_large_batch():
    features = [dict(f, nullable=False) if f["name"] == "age" else f for f in CREDIT]
    records = credit_rows(1000)
    records[20]["age"] = None
    with pytest.raises(InvalidInput) as caught:
        schema.rows_validate(schema=features, records=records, max_rows=1000)
    assert caught.value.message == "row 21: feature 'age' may not be null"
