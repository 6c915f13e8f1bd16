"""A typical input of a schema: the form's "Fill with a typical example", the sample row an
import is tried on, the benchmark's request."""

from predictor.services.schema.derive import NUMERIC


def example_record(*, schema: list[dict]) -> dict:
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
