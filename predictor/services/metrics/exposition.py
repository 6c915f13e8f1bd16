"""The text exposition `/metrics` serves: every family, totals over all worker processes,
and `mlsite_model_info` read from the registry at scrape time."""

import logging

from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily

from predictor.models import ModelVersion, Stage
from predictor.services.metrics import process
from predictor.services.metrics.families import families, never_raises

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ModelInfoCollector:
    """`mlsite_model_info`: 1 per version that is not archived, read at scrape time."""

    def describe(self):
        # Registration asks for the names; the database is read only at collection.
        return [self._family()]

    def collect(self):
        family = self._family()
        try:
            rows = ModelVersion.objects.exclude(stage=Stage.ARCHIVED).values_list(
                "model__name", "version", "stage"
            )
            for name, number, stage in rows.order_by("model__name", "version"):
                family.add_metric([name, str(number), stage], 1)
        except DatabaseError as exc:
            # The other figures still serve while the database is away.
            log.warning("mlsite_model_info left out: %s", exc)
            return []
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "mlsite_model_info",
            "The registry's versions that are not archived (value 1), for joins.",
            labels=["model", "version", "stage"],
        )


def exposition() -> bytes:
    """Every family in Prometheus' text format, totals over all worker processes."""
    made = families()
    with never_raises("process"):
        process.sample(families=made)
    registry = CollectorRegistry()
    if made.registry is None:
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(made.registry)
    registry.register(ModelInfoCollector())
    return generate_latest(registry)
