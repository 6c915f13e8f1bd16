"""Erasing one person from the prediction log (an erasure request), wherever it is kept.

Their rows (and the shadow rows of their requests) leave the table; their rows leave every
archive file of a folder (each rewritten beside itself, then put in place with one rename,
so a reader sees the old file or the new one); their batch inputs and results are deleted;
their share leaves the hourly aggregates: their per-user keys go and the same figures are
taken out of the "all users" keys. A per-user key holds no counts of sensitive features, so
those are taken from their rows while the rows exist; for hours whose rows were pruned
their sensitive counts stay in the all-users figures, linked to nobody.

Versions trained with their feedback are listed, not changed: an operator retrains them.
"""

import csv
import gzip
import os
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Q

from predictor.models import JobKind, ModelVersion, Prediction, PredictionHour, Source, TrainingJob
from predictor.services import csvsafe
from predictor.services.log import aggregates, deferred, sealing
from predictor.services.serving import scoring

BATCH = 5000
ARCHIVES = "predictions-*.csv.gz"


@dataclass
class Erased:
    """What an erasure removed (or, dry, would remove)."""

    rows: int = 0  # table rows, shadow rows included
    shadow_rows: int = 0
    aggregate_keys: int = 0  # per-user hourly keys (taken out of the all-users keys too)
    archived_rows: int = 0
    archive_files: list[str] = field(default_factory=list)  # the files that held their rows
    batch_files: int = 0
    trained_with: list[str] = field(default_factory=list)  # "model vN": their feedback in it
    maybe_trained_with: list[str] = field(default_factory=list)  # trained before it was noted


def user_erase(*, user, archive_dir: Path | None = None, dry_run: bool = False) -> Erased:
    """Remove every trace of `user` from the prediction log: rows, archives, batch files and
    aggregates; list the versions their feedback trained."""
    result = Erased()
    rows = _rows_of(user)
    result.trained_with, result.maybe_trained_with = _versions_trained_with(user)
    request_ids = _batch_request_ids(user)
    result.rows = rows.count()
    result.shadow_rows = rows.filter(source=Source.SHADOW).count()
    if archive_dir is not None:
        result.archived_rows, result.archive_files, archived_ids = _archives_erase(
            archive_dir, user=user, dry_run=dry_run
        )
        request_ids |= archived_ids
    if dry_run:
        result.aggregate_keys = PredictionHour.objects.filter(user_key=user.pk).count()
    else:
        # The figures of their last rows that servers have not added yet land first.
        deferred.flush()
        time.sleep(deferred.delay())
        result.aggregate_keys = _aggregates_erase(user)
        _rows_delete(rows)
    result.batch_files = scoring.batch_files_remove(request_ids=request_ids, dry_run=dry_run)
    return result


def _rows_of(user):
    served = Prediction.objects.filter(user_id=user.pk)
    return Prediction.objects.filter(
        Q(user_id=user.pk) | Q(shadow_of__in=served.values("id"), source=Source.SHADOW)
    )


def _rows_delete(rows) -> None:
    while True:
        with transaction.atomic():
            ids = list(rows.order_by("id").values_list("id", flat=True)[:BATCH])
            if not ids:
                return
            Prediction.objects.filter(id__in=ids).delete()


# --- versions their feedback trained --------------------------------------------------------


def _label(version) -> str:
    return f"{version.model.name} v{version.version}"


def _versions_trained_with(user) -> tuple[list[str], list[str]]:
    """(versions whose `feedback_from` names them, older versions trained on feedback
    before whose training they had labelled a prediction of that model)."""
    sure, maybe = [], []
    trained = ModelVersion.objects.filter(feedback_rows__gt=0).select_related("model")
    # Feedback they gave: recorded as theirs, or (before that was recorded) on their rows.
    labelled = Prediction.objects.filter(
        Q(actual_by_id=user.pk) | Q(user_id=user.pk, actual_by=None)
    ).exclude(actual=None)
    for version in trained.order_by("model__name", "version"):
        noted = version.feedback_from or {}
        before = Q(actual_at__lt=version.created_at) | Q(
            actual_at=None, created_at__lt=version.created_at
        )
        if "user_ids" in noted:
            if user.pk in noted["user_ids"]:
                sure.append(_label(version))
        elif labelled.filter(before, model_id=version.model_id).exists():
            maybe.append(_label(version))
    return sure, maybe


# --- batch files ------------------------------------------------------------------------------


def _batch_request_ids(user) -> set[str]:
    ids = set(
        Prediction.objects.filter(user_id=user.pk, source=Source.BATCH)
        .order_by()
        .values_list("request_id", flat=True)
        .distinct()
    )
    for options in TrainingJob.objects.filter(
        kind=JobKind.SCORING, created_by_id=user.pk
    ).values_list("options", flat=True):
        if isinstance(options, dict) and options.get("request_id"):
            ids.add(options["request_id"])
    return ids


# --- archives ---------------------------------------------------------------------------------


def _archives_erase(directory: Path, *, user, dry_run: bool) -> tuple[int, list[str], set[str]]:
    """(rows of theirs, files that held them, their batch request ids) in the archives of
    `directory`; each such file rewritten without them unless `dry_run`."""
    name = csvsafe.cell(value=user.username)  # as the archive wrote it
    removed, files, request_ids = 0, [], set()
    if not directory.is_dir():
        return removed, files, request_ids
    for path in sorted(directory.glob(ARCHIVES)):
        count = _archive_rewrite(path, name, request_ids, dry_run=dry_run)
        if count:
            removed += count
            files.append(str(path))
    return removed, files, request_ids


def _archive_rewrite(path: Path, username: str, request_ids: set, *, dry_run: bool) -> int:
    """Rewrite one archive without the rows of `username` (atomically: a file beside it,
    then a rename); the count of theirs. Their batch request ids go to `request_ids`."""
    temp = None
    removed = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            header = next(reader, None)
            if header is None or "user" not in header:
                return 0
            user_at, source_at = header.index("user"), header.index("source")
            request_at = header.index("request_id")
            if not dry_run:
                fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".erasing-", suffix=".gz")
                os.close(fd)
                out = gzip.open(temp, "wt", encoding="utf-8", newline="")
                writer = csv.writer(out)
                writer.writerow(header)
            for line in reader:
                if len(line) > user_at and line[user_at] == username:
                    removed += 1
                    if line[source_at] == Source.BATCH:
                        request_ids.add(line[request_at].lstrip("'"))
                elif not dry_run:
                    writer.writerow(line)
            if not dry_run:
                out.close()
        if not dry_run:
            if removed:
                os.chmod(temp, path.stat().st_mode & 0o777)
                os.replace(temp, path)
                temp = None
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
    return removed


# --- aggregates -------------------------------------------------------------------------------


def _sensitive_counts(user) -> dict[tuple, dict[str, Counter]]:
    """Counts of sensitive features of their rows that still exist, by aggregate key (hour,
    version, source): what a per-user key does not hold (values never stored, or that no
    key opens, cannot be counted)."""
    counts: dict[tuple, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    versions = {}
    values = (
        Prediction.objects.filter(user_id=user.pk)
        .order_by()
        .values_list("version_id", "created_at", "source", "inputs", "sealed")
    )
    for version_id, at, source, inputs, sealed in values.iterator(chunk_size=BATCH):
        if version_id not in versions:
            versions[version_id] = ModelVersion.objects.select_related("model").get(pk=version_id)
        version = versions[version_id]
        hidden = aggregates.sensitive_of(version=version)
        if not hidden:
            continue
        record = sealing.unseal(inputs, sealed) if sealed else inputs
        for name, counted in aggregates.feature_counts(version=version, records=[record]).items():
            if name in hidden and record.get(name) != sealing.REDACTED:
                counts[(aggregates.hour_of(moment=at), version_id, source)][name].update(counted)
    return counts


def _aggregates_erase(user) -> int:
    """Take their figures out of the all-users keys and delete their per-user keys; the
    count of their keys. Keys are locked in the writer's order (all users, then theirs)."""
    sensitive = _sensitive_counts(user)
    keys = (
        PredictionHour.objects.filter(user_key=user.pk)
        .order_by("hour", "model_id", "version_id", "source")
        .values_list("hour", "model_id", "version_id", "source")
    )
    done = 0
    for hour, model_id, version_id, source in list(keys):
        with transaction.atomic():
            pair = list(
                PredictionHour.objects.select_for_update()
                .filter(
                    hour=hour,
                    model_id=model_id,
                    version_id=version_id,
                    source=source,
                    user_key__in=(aggregates.ALL_USERS, user.pk),
                )
                .order_by("user_key")
            )
            everyone = next((r for r in pair if r.user_key == aggregates.ALL_USERS), None)
            theirs = next((r for r in pair if r.user_key == user.pk), None)
            if theirs is None:
                continue
            if everyone is not None:
                figures = aggregates.Figures.from_row(everyone)
                share = aggregates.Figures.from_row(theirs)
                for name, counts in sensitive.get((hour, version_id, source), {}).items():
                    if name not in share.features:
                        share.features[name] = counts
                figures.subtract(share)
                if figures.predictions <= 0 and figures.requests <= 0 and figures.labelled <= 0:
                    everyone.delete()
                else:
                    figures.store(everyone)
                    everyone.save()
            theirs.delete()
            done += 1
    return done
