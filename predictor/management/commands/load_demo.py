from django.core.management.base import BaseCommand, CommandError

from predictor.services.demo import DEMOS, demo_load
from predictor.services.errors import ServiceError


class Command(BaseCommand):
    """Load the demo datasets and models (iris, wine, breast-cancer, diabetes, credit-risk)."""

    help = "Create the demo datasets and train their models; running it again adds nothing."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", choices=[d["name"] for d in DEMOS])
        parser.add_argument("--cv", type=int, default=3)

    def handle(self, *args, **options):
        try:
            names = demo_load(names=options["only"], cv=options["cv"], log=self.stdout.write)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"demo ready: {', '.join(names)}"))
