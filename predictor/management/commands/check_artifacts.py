from django.core.management.base import BaseCommand, CommandError

from predictor import selectors
from predictor.services.errors import ServiceError
from predictor.services.registry.importing import version_reaudit
from predictor.services.serving.runtime import versions_unloadable


class Command(BaseCommand):
    """List the versions that cannot serve; audit imported ones again in the sandbox."""

    help = (
        "Check every version's artifacts as serving would (sha256, skops allow-list, the "
        "compiled graph) and audit each imported version's file again in the import sandbox; "
        "list the ones that fail (an imported version the audit refuses is served nowhere "
        "from then on), so an operator can archive them. Exit status 1 if any fail."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="Also check archived versions (default: skip)."
        )

    def handle(self, *args, **options):
        versions = selectors.versions_for_check(include_archived=options["all"])
        broken = {
            v.pk: (v, fault, message)
            for v, fault, message in versions_unloadable(versions=versions)
        }
        for version in versions:
            if not version.is_imported or version.pk in broken:
                continue
            try:
                reason = version_reaudit(version=version)
            except ServiceError as exc:
                reason = exc.message
            if reason:
                broken[version.pk] = (version, "refused by audit", reason)
        for version, fault, message in broken.values():
            self.stdout.write(f"{version} [{version.stage}]: {fault}: {message}")
        checked = len(versions)
        if broken:
            raise CommandError(f"{len(broken)} of {checked} versions cannot load")
        self.stdout.write(self.style.SUCCESS(f"all {checked} versions load"))
