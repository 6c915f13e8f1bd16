import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from predictor.services import worker


class Command(BaseCommand):
    """The job worker for TRAINING_BACKEND=db, and the monitor pass every
    MONITOR_INTERVAL_SECONDS (make run starts one beside the server)."""

    help = (
        "Claim queued training jobs from the database and run each in a child process, "
        "stopping it when cancelled or over JOB_MAX_SECONDS; between jobs, run the monitor pass "
        "(manage.py monitor) every MONITOR_INTERVAL_SECONDS (0: never). "
        "--once: run what is queued, then exit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Exit when the queue is empty.")
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between looks.")

    def handle(self, *args, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *a: stopping.append(True))
        interval = settings.MONITOR_INTERVAL_SECONDS
        monitoring = f"monitoring every {interval} s" if interval > 0 else "monitoring off"
        self.stdout.write(f"worker: waiting for jobs, {monitoring} (Ctrl-C to stop)")
        ran = worker.work(once=options["once"], poll=options["poll"], stop=lambda: bool(stopping))
        self.stdout.write(f"worker: {ran} jobs run")
