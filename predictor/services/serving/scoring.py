"""Batch scoring: a CSV of feature rows in, the same rows with predictions out."""

import csv
import io
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from predictor.models import JobKind, ModelVersion, Prediction, Source, TrainingJob
from predictor.services import access, csvsafe, jobs
from predictor.services.errors import InvalidInput, PayloadTooLarge, ServiceError
from predictor.services.log.sealing import REDACTED
from predictor.services.schema import ValidRows, rows_from_csv
from predictor.services.serving import inference
from predictor.services.serving.inference import PredictionResult, predict_valid

BATCH_JOB_CHUNK = 5000


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; save it as UTF-8 CSV") from None


def _valid(version: ModelVersion, data: bytes) -> ValidRows:
    limit = settings.BATCH_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the file is larger than the upload limit of {limit} bytes (BATCH_MAX_UPLOAD_BYTES)"
        )
    text = _text(data)
    try:
        return rows_from_csv(text=text, schema=version.schema, max_rows=settings.BATCH_MAX_ROWS)
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
        _write_results(
            result.request_id,
            version,
            data,
            result.prediction_ids,
            result.predictions,
            result.probabilities,
        )
        return result
    jobs.jobs_check_cap(user=user)  # before its file is written
    request_id = "batch-" + uuid.uuid4().hex
    inbox = _folder(INPUTS)
    inbox.mkdir(parents=True, exist_ok=True)
    with _private(inbox / f"{request_id}.csv", "wb") as upload:
        upload.write(data)
    job = TrainingJob.objects.create(
        kind=JobKind.SCORING,
        model_name=version.model.name,
        task=version.model.task,
        algorithm="batch scoring",
        created_by=access.actor(user=user),
        options={
            "version": version.pk,
            "request_id": request_id,
            "rows": len(valid.records),
            "shadows": [v.pk for v in shadows],
        },
    )
    try:
        jobs.job_enqueue(job=job)
    except ServiceError:
        (inbox / f"{request_id}.csv").unlink(missing_ok=True)
        raise
    job.refresh_from_db()
    return job


@jobs.job_kind(name=JobKind.SCORING)
def batch_job(job: TrainingJob, progress):
    """Score a large batch file in chunks (one request id for all), then drop the upload."""
    options = job.options
    version = ModelVersion.objects.select_related("model").get(pk=options["version"])
    path = _folder(INPUTS) / f"{options['request_id']}.csv"
    valid = _valid(version, path.read_bytes())
    shadows = tuple(ModelVersion.objects.select_related("model").filter(pk__in=options["shadows"]))
    total = len(valid.records)
    ids, predictions, probabilities = [], [], []
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
        ids += scored.prediction_ids
        predictions += scored.predictions
        probabilities += scored.probabilities or []
        progress(
            min(start + BATCH_JOB_CHUNK, total) / total * 0.99,
            f"{start + len(chunk.records)} of {total} rows scored",
        )
    _write_results(
        options["request_id"], version, path.read_bytes(), ids, predictions, probabilities or None
    )
    path.unlink(missing_ok=True)
    return None


# The folders of MEDIA_ROOT that hold a batch's files, each named by its request id.
INPUTS, RESULTS = "batch-inputs", "batch-results"


def _folder(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def _results_path(request_id: str) -> Path:
    return _folder(RESULTS) / f"{request_id}.csv"


def _private(path: Path, mode: str, **kwargs):
    """`path` opened for writing, readable by this service's user only (0600): a batch's
    files hold people's inputs."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode otherwise
    return os.fdopen(fd, mode, **kwargs)


def _file_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The file's header and its non-blank lines, each cell exactly as written: the same
    lines, in the same order, that `rows_from_csv` validated (it has already read them)."""
    rows = list(csv.reader(io.StringIO(_text(data))))
    header = [c.strip() for c in rows[0]]
    return header, [row for row in rows[1:] if any(c.strip() for c in row)]


def _write_results(request_id, version, data: bytes, ids, predictions, probabilities) -> None:
    """The scored file: the file's own columns first, every cell as written (12 stays 12;
    the model's sensitive features as `***`), then `prediction_id`, the prediction and the
    class probabilities; every cell formula-safe."""
    header, lines = _file_rows(data)
    sealed = set(version.model.sensitive or ())
    hidden = [i for i, name in enumerate(header) if name in sealed]
    classes = [str(c) for c in version.classes or []] if probabilities else []
    path = _results_path(request_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _private(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            csvsafe.row(
                values=[*header, "prediction_id", "prediction"]
                + [f"probability_{c}" for c in classes]
            )
        )
        for i, line in enumerate(lines):
            cells = list(line)
            for at in hidden:
                cells[at] = REDACTED
            probs = [probabilities[i].get(c) for c in classes] if probabilities else []
            writer.writerow(csvsafe.row(values=[*cells, ids[i], predictions[i], *probs]))


def batch_files_remove(*, request_ids: Iterable[str], dry_run: bool = False) -> int:
    """Delete the input and result files of these batches (an erasure); how many there
    were."""
    found = 0
    for request_id in set(request_ids):
        if not inference.request_id_valid(given=request_id):
            continue  # not a name this service gives a file
        for path in (_folder(INPUTS) / f"{request_id}.csv", _results_path(request_id)):
            if path.is_file():
                found += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    return found


def batch_files_prune(*, older_than_days: int, dry_run: bool = False, now=None) -> int:
    """Delete batch input and result files last written more than `older_than_days` days
    ago (BATCH_RESULT_DAYS); how many (or would be)."""
    cutoff = (now.timestamp() if now is not None else time.time()) - older_than_days * 86400
    found = 0
    for name in (INPUTS, RESULTS):
        folder = _folder(name)
        if not folder.is_dir():
            continue
        for path in folder.glob("*.csv"):
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                found += 1
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                continue  # a job finished with it meanwhile
    return found


def batch_result_csv(*, request_id: str, user) -> str:
    """The scored file of one batch: inputs, prediction, and class probabilities."""
    rows = Prediction.objects.filter(request_id=request_id, source=Source.BATCH).order_by("pk")
    if not access.is_staff(user=user):
        rows = rows.filter(user_id=getattr(user, "pk", None) or -1)
    first = rows.select_related("version").first()
    if first is None:
        raise InvalidInput("no batch with that id")
    stored = _results_path(request_id)
    if inference.request_id_valid(given=request_id) and stored.exists():
        return stored.read_text(encoding="utf-8")  # the file's own columns, as written
    rows = list(rows.select_related("version"))
    version = rows[0].version
    names = version.feature_names
    classes = [str(c) for c in version.classes or []] if rows[0].probabilities else []
    out = io.StringIO()
    writer = csv.writer(out)
    header = names + ["prediction_id", "prediction"] + [f"probability_{c}" for c in classes]
    writer.writerow(csvsafe.row(values=header))
    for p in rows:
        values = [p.inputs.get(n) for n in names]
        probs = [p.probabilities.get(c) for c in classes] if p.probabilities else []
        writer.writerow(csvsafe.row(values=values + [p.pk, p.output] + probs))
    return out.getvalue()
