from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictor.services.errors import ServiceError
from predictor.services.log import retention


class Command(BaseCommand):
    """Remove old prediction rows, optionally archiving them first (cron, or Celery beat)."""

    help = (
        "Remove prediction rows created more than DAYS days ago (rows with feedback stay "
        "unless --drop-feedback), in batches, after writing them with --archive DIR to one "
        "gzip CSV per UTC day (predictions-YYYY-MM-DD.csv.gz). Without --older-than it uses "
        "PREDICTION_RETENTION_DAYS. Hourly aggregates are kept. Batch input and result "
        "files older than BATCH_RESULT_DAYS are deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, metavar="DAYS", dest="older_than")
        parser.add_argument("--archive", metavar="DIR", help="Write the rows here first.")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")
        parser.add_argument(
            "--drop-feedback", action="store_true", help="Also remove rows with ground truth."
        )
        parser.add_argument("--batch", type=int, default=retention.BATCH, help="Rows a batch.")

    def handle(self, *args, **options):
        days = retention.retention_days(
            given=options["older_than"], configured=settings.PREDICTION_RETENTION_DAYS
        )
        if days is None:
            raise CommandError(
                "give --older-than DAYS or set PREDICTION_RETENTION_DAYS (unset keeps everything)"
            )
        if options["batch"] < 1:
            raise CommandError("--batch must be 1 or more rows")
        archive = Path(options["archive"]) if options["archive"] else None
        if archive is not None and archive.exists() and not archive.is_dir():
            raise CommandError(f"--archive {archive}: not a directory")
        try:
            result = retention.prune(
                older_than_days=days,
                archive_dir=archive,
                dry_run=options["dry_run"],
                drop_feedback=options["drop_feedback"],
                batch=options["batch"],
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot write the archive: {exc}") from None
        batch_days = settings.BATCH_RESULT_DAYS
        if options["dry_run"]:
            self.stdout.write(f"would remove {result.removed} rows older than {days} days")
            self.stdout.write(
                f"would remove {result.batch_files} batch files older than {batch_days} days"
            )
            return
        self.stdout.write(f"removed {result.batch_files} batch files older than {batch_days} days")
        if archive is not None:
            self.stdout.write(f"archived {result.archived} rows in {len(result.files)} files")
        self.stdout.write(
            self.style.SUCCESS(f"removed {result.removed} rows older than {days} days")
        )
