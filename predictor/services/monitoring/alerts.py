"""Alerts: evaluate every production version, record status changes, tell a webhook.

The job worker runs `monitor_all` every `MONITOR_INTERVAL_SECONDS` (`services/worker.py`);
`manage.py monitor` runs it once (cron): each production version's report over the last 24
hours; a change into warn, drift or degraded, or back to ok, becomes one `MonitoringAlert`
row and, when `ALERT_WEBHOOK_URL` is set, one JSON POST (a timeout and one retry; a failing
webhook is logged and marked undelivered, never fatal). An unchanged status writes nothing.
`states_current` gives the staff home page a status for every version with traffic, computed
on view when the last pass is missing or older than the interval (recorded; no alert).
"""

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from predictor.models import FeedbackSource, ModelVersion, MonitoringAlert, MonitorState, Stage
from predictor.services import monitoring
from predictor.services.errors import VersionUnavailable
from predictor.services.log import windows
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


def _judged(version: ModelVersion, report: dict | None = None) -> dict:
    """The version's report, its status recorded as its MonitorState."""
    report = report or monitoring.report(version=version)
    try:
        runtime.runtime_for(version=version)
    except VersionUnavailable as exc:  # a version that cannot serve is degraded, whatever else
        report = {**report, "status": monitoring.DEGRADED, "unavailable": exc.message}
    MonitorState.objects.update_or_create(
        version=version, defaults={"status": report["status"], "checked_at": timezone.now()}
    )
    return report


def check(*, version: ModelVersion, report: dict | None = None) -> Checked:
    report = _judged(version, report)
    status, previous = report["status"], _previous(version)
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
    return [check(version=v) for v in versions.order_by("model__name")]


@dataclass
class Shown:
    """Where a version stands on the staff home page."""

    status: str
    checked_at: datetime
    labelled: int  # staff's labels in the last 24 hours: what live figures are judged on
    min_labels: int


def _window_rows(version_ids, since):
    scope = windows.Scope(version_ids=tuple(version_ids))
    return scope.rows().filter(created_at__gte=since).order_by()


def states_current(*, versions, now: datetime | None = None) -> dict[int, Shown]:
    """version id → where it stands: the last pass's MonitorState; for a version with
    traffic in the last 24 hours whose state is missing or older than
    MONITOR_INTERVAL_SECONDS (300 s when the worker's pass is off), its status computed now
    and recorded (the alerts stay the pass's to raise). Versions with neither are left out."""
    versions = list(versions)
    now = now or timezone.now()
    since = windows.floor_hour(moment=now - timedelta(hours=24))
    max_age = timedelta(seconds=settings.MONITOR_INTERVAL_SECONDS or 300)
    states = {s.version_id: s for s in MonitorState.objects.filter(version__in=versions)}
    for version in versions:
        state = states.get(version.pk)
        if state is not None and now - state.checked_at <= max_age:
            continue
        if not _window_rows([version.pk], since).exists():
            continue  # nothing new to judge: the last status (if any) stands
        _judged(version)
        states[version.pk] = MonitorState.objects.get(version=version)
    labelled = dict(
        _window_rows(states, since)
        .filter(actual_source=FeedbackSource.STAFF)
        .exclude(actual=None)
        .values("version_id")
        .annotate(n=Count("id"))
        .values_list("version_id", "n")
    )
    return {
        pk: Shown(s.status, s.checked_at, labelled.get(pk, 0), settings.LIVE_MIN_LABELS)
        for pk, s in states.items()
    }
