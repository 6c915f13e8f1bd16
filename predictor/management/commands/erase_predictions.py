from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from predictor.services.log import retention


class Command(BaseCommand):
    """Remove every logged prediction of one user (an erasure request)."""

    help = (
        "Remove every logged prediction row of the user NAME and print the count; their "
        "share of the hourly aggregates stays, as anonymous figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="NAME")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=options["user"])
        except User.DoesNotExist:
            raise CommandError(f"no user named {options['user']!r}") from None
        count = retention.erase_user(user, dry_run=options["dry_run"])
        if options["dry_run"]:
            self.stdout.write(f"would remove {count} predictions of {user.username}")
        else:
            self.stdout.write(self.style.SUCCESS(f"removed {count} predictions of {user.username}"))
