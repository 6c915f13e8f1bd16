"""Which version answers a request: an explicit number, else the model's production version.

Every door resolves versions here, after which `access` has had its say: a model the caller
may not use is a 401, a staff-only version named by a non-staff caller is a 404. Found
versions are kept per process (`registrycache`), so a steady stream of predictions asks the
database nothing here.
"""

from dataclasses import dataclass

from predictor.models import ModelVersion, RegisteredModel, Stage
from predictor.services import access
from predictor.services.errors import Conflict, InvalidInput, NotFound
from predictor.services.serving import registrycache, traffic


def model_get(*, name: str, user) -> RegisteredModel:
    """The model called `name` if the user may use it (NotFound / LoginRequired)."""
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        raise NotFound(f"no model named {name!r}")
    access.model_check_use(user=user, model=model)
    return model


def version_number(*, version) -> int | None:
    """A version number given as text or int; None when not given."""
    if version is None or version == "":
        return None
    if isinstance(version, bool):
        raise InvalidInput(f"version must be a whole number, got {version!r}", field="version")
    try:
        return int(version)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"version must be a whole number, got {version!r}", field="version"
        ) from None


def _lookup(model_name: str, number: int | None) -> ModelVersion | None:
    key = (model_name, number)
    found = registrycache.version_get(key=key)
    if found is not None:
        return found
    found = ModelVersion.objects.select_related("model").filter(model__name=model_name)
    if number is None:
        found = found.filter(stage=Stage.PRODUCTION).first()
    else:
        found = found.filter(version=number).first()
    if found is not None:
        registrycache.version_put(key=key, version=found)
    return found


def _missing(model_name: str, number: int | None):
    if number is not None:
        return NotFound(f"model {model_name!r} has no version {number}")
    return Conflict(
        f"model {model_name!r} has no production version; promote one, or ask for "
        "a version explicitly (?version=N)"
    )


def version_resolve(*, model_name: str, version: int | str | None = None) -> ModelVersion:
    """The version to serve: the given number, or the model's production version (no access
    check: for the registry's own use; doors call `version_for`)."""
    number = version_number(version=version)
    found = _lookup(model_name, number)
    if found is None:
        if not RegisteredModel.objects.filter(name=model_name).exists():
            raise NotFound(f"no model named {model_name!r}")
        raise _missing(model_name, number)
    return found


def version_for(*, model_name: str, user, version: int | str | None = None) -> ModelVersion:
    """The version that answers this user when named or in production (no traffic policy):
    resolved (one query, then cached), then checked by `access`.

    A private model answers 401 to an anonymous caller before it says whether the version
    exists.
    """
    number = version_number(version=version)
    found = _lookup(model_name, number)
    if found is None:
        model_get(name=model_name, user=user)
        raise _missing(model_name, number)
    access.version_check_serve(user=user, version=found)
    return found


@dataclass(frozen=True)
class Route:
    version: ModelVersion
    shadows: tuple  # ModelVersions that predict the same rows unseen


def route(
    *, model_name: str, user, version: int | str | None = None, routing_key: str | None = None
) -> Route:
    """The version that answers a prediction, and its shadows. A named version answers
    alone (`version_for`); otherwise the model's traffic policy picks one of its routes by
    the routing key (a routed version serves whoever may use the model, whatever its stage)
    or production, and its shadow versions come along."""
    if version_number(version=version) is not None:
        return Route(version_for(model_name=model_name, user=user, version=version), ())
    policy = traffic.policy_of(model_name=model_name)
    if not policy.routes and not policy.shadows:
        return Route(version_for(model_name=model_name, user=user), ())
    number = traffic.routed_number(
        model_name=model_name, key=traffic.routing_key(given=routing_key, user=user)
    )
    found = _lookup(model_name, number)
    if found is None:
        model_get(name=model_name, user=user)
        raise _missing(model_name, number)
    access.model_check_use(user=user, model=found.model)
    shadows = tuple(v for v in (_lookup(model_name, n) for n in policy.shadows) if v is not None)
    return Route(found, shadows)
