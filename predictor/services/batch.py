"""Batch scoring: a CSV of feature rows in, the same rows with predictions out."""

import csv
import io

from django.conf import settings

from predictor.models import ModelVersion, Prediction, Source
from predictor.services import csvsafe
from predictor.services.errors import InvalidInput, PayloadTooLarge
from predictor.services.inference import PredictionResult, predict
from predictor.services.schema import MAX_REPORTED_ERRORS, records_from_csv, rows_errors


def batch_predict_csv(*, version: ModelVersion, data: bytes, user=None) -> PredictionResult:
    """Score every row, or refuse the whole file (listing bad lines) and store nothing."""
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; save it as UTF-8 CSV") from None
    records = records_from_csv(text, schema=version.schema)
    if not records:
        raise InvalidInput("the file has a header but no rows to score")
    errors = rows_errors(schema=version.schema, records=records, first_line=2)
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
        raise InvalidInput(
            f"{len(errors)} line(s) are not valid{more}: " + "; ".join(shown), errors=shown
        )
    return predict(
        version=version,
        records=records,
        source=Source.BATCH,
        user=user,
        max_rows=settings.BATCH_MAX_ROWS,
    )


def batch_result_csv(*, request_id: str, user) -> str:
    """The scored file of one batch: inputs, prediction, and class probabilities."""
    rows = Prediction.objects.filter(request_id=request_id, source=Source.BATCH).order_by("pk")
    if not getattr(user, "is_staff", False):
        rows = rows.filter(user_id=getattr(user, "pk", None) or -1)
    rows = list(rows.select_related("version"))
    if not rows:
        raise InvalidInput("no batch with that id")
    version = rows[0].version
    names = version.feature_names
    classes = [str(c) for c in version.classes or []] if rows[0].probabilities else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csvsafe.row(names + ["prediction"] + [f"probability_{c}" for c in classes]))
    for p in rows:
        values = [p.inputs.get(n) for n in names]
        probs = [p.probabilities.get(c) for c in classes] if p.probabilities else []
        writer.writerow(csvsafe.row(values + [p.output] + probs))
    return out.getvalue()
