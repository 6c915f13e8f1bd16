"""The registry: datasets, versions and their stages, the artifact store and its
allow-list, and importing models trained elsewhere. `registry.version_*` and `model_*`
are the versions module's services, handed on here."""

from predictor.services.registry.sensitive import model_sensitive_set
from predictor.services.registry.versions import (
    library_versions,
    model_check_task,
    model_get_or_create,
    version_audit_record,
    version_change,
    version_create,
    version_promote,
    version_rollback,
)

__all__ = [
    "library_versions",
    "model_check_task",
    "model_get_or_create",
    "model_sensitive_set",
    "version_audit_record",
    "version_create",
    "version_change",
    "version_promote",
    "version_rollback",
]
