"""Batch scoring: a CSV of feature rows in, the same rows with predictions out."""

import csv
import io
import uuid
from pathlib import Path

from django.conf import settings

from predictor.models import ModelVersion, Prediction, Source, TrainingJob
from predictor.services import csvsafe, jobs
from predictor.services.errors import InvalidInput, PayloadTooLarge, ServiceError
from predictor.services.schema import ValidRows, rows_from_csv
from predictor.services.serving import inference
from predictor.services.serving.inference import PredictionResult, predict_valid

BATCH_JOB_CHUNK = 5000


def _valid(version: ModelVersion, data: bytes) -> ValidRows:
    limit = settings.BATCH_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the file is larger than the upload limit of {limit} bytes (BATCH_MAX_UPLOAD_BYTES)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; save it as UTF-8 CSV") from None
    try:
        return rows_from_csv(text, schema=version.schema, max_rows=settings.BATCH_MAX_ROWS)
    except InvalidInput as exc:
        if exc.message.startswith("empty batch"):
            raise InvalidInput("the file has a header but no rows to score") from None
        raise


def batch_predict_csv(
    *, version: ModelVersion, data: bytes, user=None, shadows: tuple = ()
) -> PredictionResult | TrainingJob:
    """Score every row, or refuse the whole file (listing bad lines) and store nothing. A
    file of more than BATCH_SYNC_MAX_ROWS rows becomes a `batch` job on the job backend
    (returned queued); its results download like any batch's once it has succeeded."""
    valid = _valid(version, data)
    if len(valid.records) <= settings.BATCH_SYNC_MAX_ROWS:
        result = predict_valid(
            version=version, valid=valid, source=Source.BATCH, user=user, shadows=shadows
        )
        _write_results(result.request_id, version, valid, result.predictions, result.probabilities)
        return result
    jobs.jobs_check_cap(user=user)  # before its file is written
    request_id = "batch-" + uuid.uuid4().hex
    inbox = Path(settings.MEDIA_ROOT) / "batch-inputs"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"{request_id}.csv").write_bytes(data)
    job = TrainingJob.objects.create(
        kind="batch",
        model_name=version.model.name,
        task=version.model.task,
        algorithm="batch scoring",
        created_by=user if getattr(user, "is_authenticated", False) else None,
        options={
            "version": version.pk,
            "request_id": request_id,
            "rows": len(valid.records),
            "shadows": [v.pk for v in shadows],
        },
    )
    try:
        jobs.job_enqueue(job)
    except ServiceError:
        (inbox / f"{request_id}.csv").unlink(missing_ok=True)
        raise
    job.refresh_from_db()
    return job


@jobs.job_kind("batch")
def batch_job(job: TrainingJob, progress):
    """Score a large batch file in chunks (one request id for all), then drop the upload."""
    options = job.options
    version = ModelVersion.objects.select_related("model").get(pk=options["version"])
    path = Path(settings.MEDIA_ROOT) / "batch-inputs" / f"{options['request_id']}.csv"
    valid = _valid(version, path.read_bytes())
    shadows = tuple(ModelVersion.objects.select_related("model").filter(pk__in=options["shadows"]))
    total = len(valid.records)
    predictions, probabilities = [], []
    for start in range(0, total, BATCH_JOB_CHUNK):
        chunk = ValidRows(records=valid.records[start : start + BATCH_JOB_CHUNK])
        scored = predict_valid(
            version=version,
            valid=chunk,
            source=Source.BATCH,
            user=job.created_by,
            request_id=options["request_id"],
            shadows=shadows,
        )
        predictions += scored.predictions
        probabilities += scored.probabilities or []
        progress(
            min(start + BATCH_JOB_CHUNK, total) / total * 0.99,
            f"{start + len(chunk.records)} of {total} rows scored",
        )
    _write_results(options["request_id"], version, valid, predictions, probabilities or None)
    path.unlink(missing_ok=True)
    return None


def _results_path(request_id: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "batch-results" / f"{request_id}.csv"


def _write_results(request_id, version, valid: ValidRows, predictions, probabilities) -> None:
    """The scored file: the file's own extra columns first (an id, say), then the features,
    the prediction and the class probabilities; every cell formula-safe."""
    names = version.feature_names
    classes = [str(c) for c in version.classes or []] if probabilities else []
    path = _results_path(request_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        header = (
            valid.extra_columns + names + ["prediction"] + [f"probability_{c}" for c in classes]
        )
        writer.writerow(csvsafe.row(header))
        for i, record in enumerate(valid.records):
            extra = valid.extras[i] if valid.extras else []
            probs = [probabilities[i].get(c) for c in classes] if probabilities else []
            writer.writerow(
                csvsafe.row([*extra, *(record.get(n) for n in names), predictions[i], *probs])
            )


def batch_result_csv(*, request_id: str, user) -> str:
    """The scored file of one batch: inputs, prediction, and class probabilities."""
    rows = Prediction.objects.filter(request_id=request_id, source=Source.BATCH).order_by("pk")
    if not getattr(user, "is_staff", False):
        rows = rows.filter(user_id=getattr(user, "pk", None) or -1)
    first = rows.select_related("version").first()
    if first is None:
        raise InvalidInput("no batch with that id")
    stored = _results_path(request_id)
    if inference.request_id_valid(request_id) and stored.exists():
        return stored.read_text(encoding="utf-8")  # with the file's own extra columns
    rows = list(rows.select_related("version"))
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
