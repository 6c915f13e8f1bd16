"""Keeping the prediction log the size a team wants: pruning with archives, and rebuilding
the hourly aggregates from rows (erasing one person's rows: `erasure`).

Deletes go in batches, each its own short transaction (the batch's rows are locked, then
archived, then deleted), so the log keeps serving while millions of rows go. Hourly
aggregates are not touched by pruning: charts and monitoring keep old hours' figures.
"""

import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.functions import TruncHour
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, PredictionHour
from predictor.services.errors import InvalidInput
from predictor.services.log import aggregates, deferred, history, sealing
from predictor.services.serving import scoring as batch_files

BATCH = 5000


@dataclass
class Pruned:
    removed: int = 0
    archived: int = 0
    files: list[str] = field(default_factory=list)
    batch_files: int = 0  # batch inputs and results older than BATCH_RESULT_DAYS


def _old_rows(cutoff: datetime, drop_feedback: bool):
    rows = Prediction.objects.filter(created_at__lt=cutoff)
    return rows if drop_feedback else rows.filter(actual__isnull=True)


def prune(
    *,
    older_than_days: int,
    archive_dir: Path | None = None,
    dry_run: bool = False,
    drop_feedback: bool = False,
    batch: int = BATCH,
    now: datetime | None = None,
) -> Pruned:
    """Remove the rows created before now − `older_than_days` days (feedback rows stay
    unless `drop_feedback`), archiving them first to one gzip CSV per UTC day in
    `archive_dir` (the export's columns, inputs as JSON, sensitive values as stored); and
    the batch files older than BATCH_RESULT_DAYS."""
    if older_than_days < 0:
        raise InvalidInput("--older-than must be 0 or more days", field="older_than")
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    old = _old_rows(cutoff, drop_feedback)
    result = Pruned()
    result.batch_files = batch_files.batch_files_prune(
        older_than_days=settings.BATCH_RESULT_DAYS, dry_run=dry_run, now=now
    )
    if dry_run:
        result.removed = old.count()
        return result
    if archive_dir is not None:
        archive_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, gzip.GzipFile] = {}
    try:
        while True:
            with transaction.atomic():
                ids = list(
                    old.order_by("created_at", "id")
                    .select_for_update()
                    .values_list("id", flat=True)[:batch]
                )
                if not ids:
                    break
                if archive_dir is not None:
                    result.archived += _archive(ids, archive_dir, files, result)
                Prediction.objects.filter(id__in=ids).delete()
                result.removed += len(ids)
    finally:
        for handle in files.values():
            handle.close()
    return result


def _archive(ids: list[int], directory: Path, files: dict, result: Pruned) -> int:
    values = (
        Prediction.objects.filter(id__in=ids)
        .order_by("created_at", "id")
        .values_list(*history.VALUES)
    )
    by_day: dict[str, list] = {}
    for row in values:
        by_day.setdefault(row[1].astimezone(UTC).strftime("%Y-%m-%d"), []).append(row)
    for day, rows in by_day.items():
        if day not in files:
            path = directory / f"predictions-{day}.csv.gz"
            new = not path.exists()
            files[day] = gzip.open(path, "at", encoding="utf-8", newline="")
            result.files.append(str(path))
            lines = history.csv_lines(rows, None)
            if not new:
                next(lines)  # a file from an earlier run has its header already
        else:
            lines = history.csv_lines(rows, None)
            next(lines)
        for text in lines:
            files[day].write(text)
    return len(ids)


def retention_days(*, given: int | None, configured: int | None) -> int | None:
    """The days to keep: the command's --older-than, else PREDICTION_RETENTION_DAYS."""
    return given if given is not None else configured


# --- Rebuilding aggregates ------------------------------------------------------------------

REBUILD_FIELDS = (
    "version_id",
    "source",
    "user_id",
    "created_at",
    "request_id",
    "latency_ms",
    "inputs",
    "sealed",
    "output",
    "actual",
)


def rebuild(*, since: datetime | None = None, until: datetime | None = None) -> tuple[int, int]:
    """Recompute the hourly aggregates of every hour that has rows in [since, until) from
    those rows (hours without rows — pruned ones — keep their figures). Rows written in
    one flush for one request count as one request. (hours, rows) rebuilt."""
    rows = Prediction.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=aggregates.hour_of(moment=since))
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    hours = sorted(
        rows.annotate(h=TruncHour("created_at")).order_by().values_list("h", flat=True).distinct()
    )
    versions = {v.pk: v for v in ModelVersion.objects.select_related("model")}
    deferred.flush()  # else this process's pending figures would be added on top
    count = 0
    with transaction.atomic():
        PredictionHour.objects.filter(hour__in=hours).delete()
        tally, current, request, key = aggregates.Tally(), None, [], None
        values = rows.order_by("created_at", "id").values_list(*REBUILD_FIELDS)
        for row in values.iterator(chunk_size=5000):
            version_id, source, user_id, at, rid, ms, inputs, sealed, output, actual = row
            this = (version_id, source, user_id, at, rid)
            if this != key and request:
                _add_request(tally, versions, key, request)
                request = []
            key = this
            if sealed:
                inputs = sealing.unseal(inputs, sealed)
            request.append((inputs, output, actual, ms))
            count += 1
            if current is not None and aggregates.hour_of(moment=at) != current:
                aggregates.tally_write(tally, DEFAULT_DB_ALIAS)
                tally = aggregates.Tally()
            current = aggregates.hour_of(moment=at)
        if request:
            _add_request(tally, versions, key, request)
        aggregates.tally_write(tally, DEFAULT_DB_ALIAS)
    return len(hours), count


def _add_request(tally, versions, key, request) -> None:
    version_id, source, user_id, at, _ = key
    version = versions[version_id]
    tally.add_requests(
        version,
        moment=at,
        source=source,
        user_id=user_id,
        records=[r[0] for r in request],
        outputs=[r[1] for r in request],
        latencies=[request[0][3]],
    )
    for _inputs, output, actual, _ in request:
        if actual is not None:
            tally.add_feedback(
                version,
                moment=at,
                source=source,
                user_id=user_id,
                figures=aggregates.feedback_figures(version=version, output=output, actual=actual),
            )
