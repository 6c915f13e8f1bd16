from django.core.management.base import BaseCommand

from predictor.services.monitoring import alerts


class Command(BaseCommand):
    """Evaluate every production version; record and send status changes (cron)."""

    help = (
        "Compute each production version's monitoring status over the last 24 hours; a "
        "change into warn, drift or degraded (or back to ok) is stored as an alert and POSTed "
        "to ALERT_WEBHOOK_URL when set."
    )

    def handle(self, *args, **options):
        checked = alerts.monitor_all()
        for c in checked:
            line = f"{c.version.model.name} v{c.version.version}: {c.status}"
            if c.alert:
                sent = " (webhook: delivered)" if c.alert.delivered else ""
                line += f" — alert: {c.alert.summary}{sent}"
            self.stdout.write(line)
        fired = sum(1 for c in checked if c.alert)
        self.stdout.write(self.style.SUCCESS(f"{len(checked)} versions checked, {fired} alerts"))
