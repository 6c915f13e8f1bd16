from django.core.management.base import BaseCommand

from predictor.services import jobs


class Command(BaseCommand):
    """Run one claimed job (the worker's child process; not for people)."""

    help = "Run the job ID that a worker claimed (run_worker starts this; do not run it by hand)."

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)

    def handle(self, *args, **options):
        jobs.job_run_claimed(job_id=options["job_id"])
