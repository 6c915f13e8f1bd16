from django.core.management.base import BaseCommand

from predictor import selectors
from predictor.services.errors import ServiceError
from predictor.services.serving.compiled.build import version_compile


class Command(BaseCommand):
    """Compile every version that has no runtime yet to ONNX, verified against scikit-learn."""

    help = (
        "Give each version without a runtime its compiled (ONNX) runtime, verified on rows of "
        "its dataset; one that does not convert or verify keeps scikit-learn, with the reason. "
        "Running it again changes nothing."
    )

    def handle(self, *args, **options):
        versions = selectors.versions_without_runtime()
        done = 0
        for version in versions:
            try:
                compiled = version_compile(version=version)
            except ServiceError as exc:  # its pipeline does not load: nothing to compile
                self.stdout.write(self.style.WARNING(f"{version}: not compiled: {exc.message}"))
                continue
            done += 1
            self.stdout.write(f"{compiled}: {compiled.runtime} ({compiled.runtime_note})")
        self.stdout.write(self.style.SUCCESS(f"{done} of {len(versions)} version(s) compiled"))
