"""Rows of finite floats under an all-numeric schema are checked in C (`_all_numbers`); any
batch gets exactly what the row-by-row check gives: the same records, in schema order, the
same warnings, or the same error."""

import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from predictor.services import schema
from predictor.services.errors import InvalidInput

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


def edges(feature):
    """Floats on the edges of "far outside the range" (low - width, high + width), and the
    ones that are not finite."""
    special = [math.nan, math.inf, -math.inf]
    if "min" in feature:
        low, high = feature["min"], feature["max"]
        special += [low - (high - low), high + (high - low)]
    return st.sampled_from(special)


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
    if draw(st.integers(0, 5)) == 0:
        features.append({"name": "colour", "type": schema.CATEGORICAL, "categories": ["red"]})
    names = [f["name"] for f in features]
    plain = draw(st.booleans())  # most batches all floats: the fast path's own case
    records = []
    for _ in range(draw(st.integers(1, 12))):
        if plain:  # floats only: some exactly on a range's edge, or not finite
            record = {
                f["name"]: draw(st.one_of(st.floats(-5, 5), st.floats(-1e6, 1e6), edges(f)))
                for f in features
            }
        else:
            record = {n: draw(VALUES) for n in names}
        if "colour" in record:
            record["colour"] = draw(st.sampled_from(["red", "blue", None]))
        change = draw(st.integers(0, 20))
        if change == 0 and record:
            record.pop(draw(st.sampled_from(names)))
        elif change == 1:
            record["extra"] = 1.0
        elif change == 2:
            record = dict(reversed(list(record.items())))
        records.append(record)
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
    real = schema._all_numbers
    schema._all_numbers = lambda *a: None  # the row-by-row check alone
    try:
        slow = outcome(features, [dict(r) for r in records])
    finally:
        schema._all_numbers = real
    assert fast == slow


def test_far_values_are_warned_on_their_rows_only():
    features = [
        {"name": "a", "type": schema.NUMERIC, "min": 0.0, "max": 1.0},
        {"name": "b", "type": schema.NUMERIC, "min": 0.0, "max": 1.0},
        {"name": "c", "type": schema.NUMERIC},  # no training range: never far
    ]
    records = [{"a": 0.5, "b": 0.5, "c": 1e9}, {"a": 2.5, "b": -1.5, "c": 0.0}] * 500
    records[2] = {"a": 0.5, "b": 2.5, "c": 0.0}
    assert schema._all_numbers(features, records) is not None  # the fast path ran
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
