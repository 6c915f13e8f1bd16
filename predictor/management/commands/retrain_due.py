from django.core.management.base import BaseCommand

from predictor.services.training import policies


class Command(BaseCommand):
    """Start the retrain jobs whose policies are due, once (cron-friendly)."""

    help = (
        "Start one retrain job for every model whose retrain policy is due (every N hours, "
        "drift, live accuracy below its bound) and that has no job queued or running; exit."
    )

    def handle(self, *args, **options):
        started = policies.run_due()
        for job in started:
            self.stdout.write(f"{job.model_name}: job {job.pk} ({job.options.get('trigger')})")
        self.stdout.write(self.style.SUCCESS(f"{len(started)} retrain jobs started"))
