"""Prometheus metrics, one concern a module:

- `families`: the families the service exports, made once per process (multiprocess files
  under gunicorn), and the cache of labelled series the hot path asks for;
- `record`: what the core calls to count (`call_logged`, `prediction_request_timed`, …);
- `process`: this worker's CPU and memory, sampled by a thread of its own;
- `exposition`: the text `/metrics` serves.
"""

from predictor.services.metrics.exposition import CONTENT_TYPE, exposition
from predictor.services.metrics.families import UNKNOWN_MODEL, multiprocess_mode, reset
from predictor.services.metrics.process import process_sampler_start
from predictor.services.metrics.record import (
    RequestTimer,
    call_logged,
    job_ended,
    model_label,
    prediction_request,
    prediction_request_timed,
    security_event,
    shadow_rows,
    status_of,
)

__all__ = [
    "CONTENT_TYPE",
    "UNKNOWN_MODEL",
    "RequestTimer",
    "call_logged",
    "exposition",
    "job_ended",
    "model_label",
    "multiprocess_mode",
    "prediction_request",
    "prediction_request_timed",
    "process_sampler_start",
    "reset",
    "security_event",
    "shadow_rows",
    "status_of",
]
