from django.core.management.base import BaseCommand, CommandError

from predictor import selectors
from predictor.services.serving.runtime import versions_unloadable


class Command(BaseCommand):
    """List the versions whose artifact would not load (missing, hash, allow-list)."""

    help = (
        "Load every version's artifact as serving would (sha256, skops allow-list) and list "
        "the ones that fail, so an operator can archive them. Exit status 1 if any fail."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="Also check archived versions (default: skip)."
        )

    def handle(self, *args, **options):
        versions = selectors.versions_for_check(include_archived=options["all"])
        broken = versions_unloadable(versions)
        for version, fault, message in broken:
            self.stdout.write(f"{version} [{version.stage}]: {fault}: {message}")
        checked = len(versions)
        if broken:
            raise CommandError(f"{len(broken)} of {checked} versions cannot load")
        self.stdout.write(self.style.SUCCESS(f"all {checked} versions load"))
