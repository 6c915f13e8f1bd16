"""A version's input schema, one concern a module:

- `derive`: the schema of training data (each column's type and figures), the keys of
  binned counts (`OUTPUT`, `MISSING`, `OTHER`) and their words (`bin_label`);
- `validate`: THE validation of rows (`rows_validate`, its fast path beside it) and of a
  form's or a CSV cell's text (`value_from_text`);
- `csv_rows`: CSV text to validated rows (the API's text/csv body, batch files);
- `frames`: rows to and from pandas frames;
- `examples`: a typical input.

The request body shapes of the doors are decoded in the doors (`api/codecs.py`,
`api/v2/codec.py`) into records, which come here. The names below are the package's
public face; import them from `predictor.services.schema`.
"""

from predictor.services.schema.csv_rows import rows_from_csv
from predictor.services.schema.derive import (
    CATEGORICAL,
    MAX_CATEGORIES_RECORDED,
    MAX_CATEGORY_LENGTH,
    MISSING,
    NUMERIC,
    OTHER,
    OUTPUT,
    bin_label,
    column_is_numeric,
    column_profile,
    schema_from_frame,
    sensitive_check,
)
from predictor.services.schema.examples import example_record
from predictor.services.schema.frames import frame_from_records, records_from_frame
from predictor.services.schema.validate import (
    MAX_REPORTED_ERRORS,
    ValidRows,
    out_of_range,
    row_error,
    rows_validate,
    value_from_text,
)

__all__ = [
    "CATEGORICAL",
    "MAX_CATEGORIES_RECORDED",
    "MAX_CATEGORY_LENGTH",
    "MAX_REPORTED_ERRORS",
    "MISSING",
    "NUMERIC",
    "OTHER",
    "OUTPUT",
    "ValidRows",
    "bin_label",
    "column_is_numeric",
    "column_profile",
    "example_record",
    "frame_from_records",
    "out_of_range",
    "records_from_frame",
    "row_error",
    "rows_from_csv",
    "rows_validate",
    "schema_from_frame",
    "sensitive_check",
    "value_from_text",
]
