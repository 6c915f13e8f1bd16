"""Watching versions in production, one concern a module:

- `window`: statuses, a window's bounds and buckets, its figures from the log;
- `drift`: inputs and outputs against their training reference;
- `live`: live accuracy from feedback;
- `report`: one version's report over a window (`report`, `version_report`);
- `alerts`: the monitor's statuses and the alerts they raise;
- `compare`: versions side by side;
- `reference`: the training distributions a version keeps;
- `health`: the service's own readiness.
"""

from predictor.services.monitoring.report import report, version_report
from predictor.services.monitoring.window import (
    DEGRADED,
    DRIFT,
    INSUFFICIENT,
    OK,
    ORDER,
    UNAVAILABLE,
    WARN,
    percentile,
    worst,
)

__all__ = [
    "DEGRADED",
    "DRIFT",
    "INSUFFICIENT",
    "OK",
    "ORDER",
    "UNAVAILABLE",
    "WARN",
    "percentile",
    "report",
    "version_report",
    "worst",
]
