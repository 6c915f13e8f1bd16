"""The registry (core) and what operations keep about it (operations)."""

from predictor.models.core import *  # noqa: F403
from predictor.models.core import ENDED, IMMUTABLE_VERSION_FIELDS, ImmutableFieldError  # noqa: F401
from predictor.models.operations import (  # noqa: F401
    MonitoringAlert,
    MonitorState,
    RetrainPolicy,
    ScopedAPIKey,
    SecurityEvent,
    TrafficChange,
    TrafficPolicy,
)
