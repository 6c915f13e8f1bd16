"""THE prediction-log row: what one served (or shadowed) row of a version stores, sealed
with the registered model's sensitive list, and the `Served` record the hourly aggregates
count it by. Inference and shadows both build their rows here, so both follow one list."""

import itertools

from predictor.models import ModelVersion
from predictor.services.log import sealing
from predictor.services.log.aggregates import Served

_NO_PROBABILITIES = itertools.repeat(None)  # a regression's rows


def log_rows(
    *,
    version: ModelVersion,
    records: list,
    outputs: list,
    probabilities: list | None,
    source: str,
    user_id: int | None,
    latency_ms: float,
    request_id: str,
    moment,
    shadow_of: list | None = None,
) -> tuple[list[dict], Served]:
    """The log rows of one caller's rows (`shadow_of`: the served rows' ids a shadow's rows
    answer), and their `Served` record."""
    sensitive = version.model.sensitive
    rows = []
    for i, (record, predicted, chances) in enumerate(
        zip(records, outputs, probabilities or _NO_PROBABILITIES)
    ):
        stored, sealed = sealing.seal(record, sensitive) if sensitive else (record, "")
        row = {
            "model_id": version.model_id,
            "version_id": version.pk,
            "inputs": stored,
            "output": predicted,
            "probabilities": chances,
            "source": source,
            "user_id": user_id,
            "latency_ms": latency_ms,
            "request_id": request_id,
            "sealed": sealed,
            "created_at": moment,
        }
        if shadow_of is not None:
            row["shadow_of"] = shadow_of[i]
        rows.append(row)
    served = Served(
        version=version,
        moment=moment,
        source=source,
        user_id=user_id,
        records=records,
        outputs=outputs,
        latency_ms=latency_ms,
    )
    return rows, served
