from django.core.management.base import BaseCommand, CommandError

from predictor.services import timestamps
from predictor.services.errors import ServiceError
from predictor.services.log import retention


class Command(BaseCommand):
    """Recompute the hourly aggregates from the prediction rows (after a bulk load)."""

    help = (
        "Recompute the hourly aggregates of every hour that has prediction rows in "
        "[--since, --until) (ISO 8601; default: all), for rows written outside the service. "
        "Hours whose rows were pruned keep their figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", metavar="ISO")
        parser.add_argument("--until", metavar="ISO")

    def handle(self, *args, **options):
        try:
            since, until = (
                timestamps.timestamp_parse(text=options[name], field=f"--{name}")
                if options[name]
                else None
                for name in ("since", "until")
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if since and until and since >= until:
            raise CommandError("--since must be before --until")
        hours, rows = retention.rebuild(since=since, until=until)
        self.stdout.write(self.style.SUCCESS(f"rebuilt {hours} hours from {rows} rows"))
