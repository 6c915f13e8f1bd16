from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor.services.errors import ServiceError
from predictor.services.registry.datasets import dataset_create


class Command(BaseCommand):
    """Import a CSV file as a dataset."""

    help = "Import a CSV file as a dataset: import_dataset FILE --name NAME [--target COLUMN]"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--name", required=True)
        parser.add_argument("--target", default=None, help="Target column (default: the last).")
        parser.add_argument("--description", default="")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            with path.open("rb") as fh:
                dataset = dataset_create(
                    name=options["name"],
                    file=fh,
                    target=options["target"],
                    description=options["description"],
                )
        except ServiceError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"dataset {dataset.name} (id {dataset.pk}): {dataset.row_count} rows, "
                f"{len(dataset.columns)} columns, target {dataset.target!r}"
            )
        )
