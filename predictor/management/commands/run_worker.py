import signal

from django.core.management.base import BaseCommand

from predictor.services import worker


class Command(BaseCommand):
    """The job worker for TRAINING_BACKEND=db (make run starts one beside the server)."""

    help = (
        "Claim queued training jobs from the database and run each in a child process, "
        "stopping it when cancelled or over JOB_MAX_SECONDS. --once: run what is queued, then exit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Exit when the queue is empty.")
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between looks.")

    def handle(self, *args, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *a: stopping.append(True))
        self.stdout.write("worker: waiting for jobs (Ctrl-C to stop)")
        ran = worker.work(once=options["once"], poll=options["poll"], stop=lambda: bool(stopping))
        self.stdout.write(f"worker: {ran} jobs run")
