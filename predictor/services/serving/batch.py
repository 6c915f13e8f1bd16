"""Batch scoring: a CSV of feature rows in, the same rows with predictions out."""

import csv
import io

from django.conf import settings

from predictor.models import ModelVersion, Prediction, Source
from predictor.services import csvsafe
from predictor.services.errors import InvalidInput, PayloadTooLarge
from predictor.services.schema import rows_from_csv
from predictor.services.serving.inference import PredictionResult, predict_valid


def batch_predict_csv(
    *, version: ModelVersion, data: bytes, user=None, shadows: tuple = ()
) -> PredictionResult:
    """Score every row, or refuse the whole file (listing bad lines) and store nothing."""
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; save it as UTF-8 CSV") from None
    try:
        valid = rows_from_csv(text, schema=version.schema, max_rows=settings.BATCH_MAX_ROWS)
    except InvalidInput as exc:
        if exc.message.startswith("empty batch"):
            raise InvalidInput("the file has a header but no rows to score") from None
        raise
    return predict_valid(
        version=version, valid=valid, source=Source.BATCH, user=user, shadows=shadows
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
