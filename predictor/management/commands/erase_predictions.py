from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from predictor.services.log import erasure


class Command(BaseCommand):
    """Remove every logged prediction of one user (an erasure request), wherever it is kept."""

    help = (
        "Remove every logged prediction row of the user NAME (the shadow rows of their "
        "requests included) from the table, from every archive file in --archive DIR "
        "(rewritten without them), their batch input and result files, and their share of "
        "the hourly aggregates; print each count and the versions trained with their feedback."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="NAME")
        parser.add_argument("--archive", metavar="DIR", help="prune_predictions' archive folder.")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=options["user"])
        except User.DoesNotExist:
            raise CommandError(f"no user named {options['user']!r}") from None
        archive = Path(options["archive"]) if options["archive"] else None
        if archive is not None and not archive.is_dir():
            raise CommandError(f"--archive {archive}: not a directory")
        dry = options["dry_run"]
        try:
            erased = erasure.user_erase(user=user, archive_dir=archive, dry_run=dry)
        except OSError as exc:
            raise CommandError(f"cannot rewrite the archive: {exc}") from None
        verb = "would remove" if dry else "removed"
        name = user.username
        self.stdout.write(
            f"{verb} {erased.rows} predictions of {name} ({erased.shadow_rows} shadow rows)"
        )
        if archive is not None:
            self.stdout.write(
                f"{verb} {erased.archived_rows} archived rows of {name} "
                f"from {len(erased.archive_files)} archive files"
            )
        self.stdout.write(f"{verb} {erased.batch_files} batch files of {name}")
        self.stdout.write(f"{verb} {erased.aggregate_keys} hourly aggregate keys of {name}")
        if erased.trained_with:
            self.stdout.write(
                f"versions trained with {name}'s feedback (retrain without it): "
                + ", ".join(erased.trained_with)
            )
        else:
            self.stdout.write(f"no version records training with {name}'s feedback")
        if erased.maybe_trained_with:
            self.stdout.write(
                "versions trained on feedback before sources were recorded, after "
                f"{name} gave some: " + ", ".join(erased.maybe_trained_with)
            )
        if not dry:
            self.stdout.write(self.style.SUCCESS(f"erased {name}"))
