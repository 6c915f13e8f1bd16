"""Alerts: evaluate every production version, record status changes, tell a webhook.

`manage.py monitor` runs `monitor_all` (cron, or a periodic task): each production
version's report over the last 24 hours; a change into warn, drift or degraded, or back to
ok, becomes one `MonitoringAlert` row and, when `ALERT_WEBHOOK_URL` is set, one JSON POST
(a timeout and one retry; a failing webhook is logged and marked undelivered, never fatal).
An unchanged status writes nothing.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from predictor.models import ModelVersion, MonitoringAlert, MonitorState, Stage
from predictor.services import monitoring
from predictor.services.errors import VersionUnavailable
from predictor.services.serving import runtime

log = logging.getLogger(__name__)

ALERTING = {monitoring.WARN, monitoring.DRIFT, monitoring.DEGRADED}


@dataclass
class Checked:
    version: ModelVersion
    status: str
    alert: MonitoringAlert | None


def _summary(report: dict, previous: str) -> str:
    drift = report["drift"]
    parts = [f"{report['model']} v{report['version']}: {previous} → {report['status']}"]
    if report.get("unavailable"):
        parts.append(f"cannot serve: {report['unavailable']}")
    drifting = [
        f"{f['name']} (PSI {f['psi']:.2f})" for f in drift["features"] if f["status"] in ALERTING
    ]
    if drifting:
        parts.append("drift in " + ", ".join(drifting[:5]))
    live = (report.get("live_by_source") or {}).get("staff")  # what made it degraded
    if live and report["status"] == monitoring.DEGRADED:
        metric = "accuracy" if "accuracy" in live else "rmse"
        parts.append(f"live {metric} {live[metric]:.3f} vs holdout {live['holdout'].get(metric)}")
    return "; ".join(parts)[:500]


def _previous(version: ModelVersion) -> str:
    last = MonitoringAlert.objects.filter(version=version).order_by("-created_at", "-id").first()
    return last.to_status if last else monitoring.OK


def check(version: ModelVersion, *, report: dict | None = None) -> Checked:
    report = report or monitoring.report(version)
    try:
        runtime.runtime_for(version)
    except VersionUnavailable as exc:  # a version that cannot serve is degraded, whatever else
        report = {**report, "status": monitoring.DEGRADED, "unavailable": exc.message}
    status, previous = report["status"], _previous(version)
    MonitorState.objects.update_or_create(
        version=version, defaults={"status": status, "checked_at": timezone.now()}
    )
    fires = status != previous and (
        status in ALERTING or (status == monitoring.OK and previous in ALERTING)
    )
    if not fires:
        return Checked(version, status, None)
    alert = MonitoringAlert.objects.create(
        model=version.model,
        version=version,
        from_status=previous,
        to_status=status,
        summary=_summary(report, previous),
        figures={"drift": report["drift"], "live": report["live"], "since": report["since"]},
    )
    if settings.ALERT_WEBHOOK_URL:
        alert.delivered = deliver(alert)
        alert.save(update_fields=["delivered"])
    return Checked(version, status, alert)


def deliver(alert: MonitoringAlert, attempts: int = 2) -> bool:
    body = json.dumps(
        {
            "model": alert.model.name,
            "version": alert.version.version,
            "from": alert.from_status,
            "to": alert.to_status,
            "summary": alert.summary,
            "at": alert.created_at.isoformat(),
            "figures": alert.figures,
        }
    ).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(
            settings.ALERT_WEBHOOK_URL,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "mlsite-monitor"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as answer:
                if 200 <= answer.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("alert webhook failed (attempt %d): %s", attempt + 1, exc)
        if attempt + 1 < attempts:
            time.sleep(1)
    return False


def monitor_all() -> list[Checked]:
    versions = ModelVersion.objects.filter(stage=Stage.PRODUCTION).select_related("model")
    return [check(v) for v in versions.order_by("model__name")]
