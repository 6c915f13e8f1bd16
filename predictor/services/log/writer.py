"""Writing the prediction log: the rows of one model call, in one transaction."""

import logging

from django.db import DatabaseError, transaction

from predictor.models import Prediction
from predictor.services.errors import ServiceUnavailable

log = logging.getLogger(__name__)


def rows_write(rows: list[Prediction]) -> list[int]:
    """Insert the rows with one multi-row INSERT, committed before this returns; their ids
    in order. If the log cannot be written, nothing of it is: ServiceUnavailable (503)."""
    try:
        with transaction.atomic():
            created = Prediction.objects.bulk_create(rows)
    except DatabaseError as exc:
        log.error("the prediction log could not be written (%d rows): %s", len(rows), exc)
        raise ServiceUnavailable(
            "the prediction could not be logged, so it is not served; try again shortly"
        ) from exc
    return [p.pk for p in created]
