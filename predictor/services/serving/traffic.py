"""Traffic policies: which version answers a prediction that names none, and which shadow
versions predict the same rows unseen.

A policy is routes with whole-number weights summing to 100 (none: production takes
everything) and shadow version numbers. A routing key (the client's `X-Routing-Key`, else
the user, else a random one) is hashed with the model's name to a point in 0..99, so a key
keeps its version while the policy stands. Policies are cached per process beside the
versions (`registrycache`), and every change raises the registry generation: other processes
follow within a second. Every change — by a person or because a version was archived — is
recorded with who, when, why, and the policy before and after.
"""

import hashlib
import uuid
from dataclasses import dataclass

from django.db import transaction

from predictor.models import ModelVersion, RegisteredModel, Stage, TrafficChange, TrafficPolicy
from predictor.services import access
from predictor.services.errors import InvalidInput
from predictor.services.schema.changes import schema_change
from predictor.services.serving import registrycache


@dataclass(frozen=True)
class Policy:
    routes: tuple  # ((version, weight), ...)
    shadows: tuple  # (version, ...)

    def as_dict(self) -> dict:
        return {
            "routes": [{"version": v, "weight": w} for v, w in self.routes],
            "shadows": list(self.shadows),
        }


EMPTY = Policy((), ())


def policy_of(*, model_name: str) -> Policy:
    """The model's policy, from this process's cache of every policy (one query when the
    cache is cold; a name that has none costs nothing and is not remembered)."""
    every = registrycache.policies_get()
    if every is None:
        every = {
            row.model.name: _policy(row) for row in TrafficPolicy.objects.select_related("model")
        }
        registrycache.policies_put(every=every)
    return every.get(model_name, EMPTY)


def _policy(row: TrafficPolicy) -> Policy:
    return Policy(tuple((r["version"], r["weight"]) for r in row.routes), tuple(row.shadows))


def routing_key(*, given: str | None, user) -> str:
    """The client's key, else the user's, else a random one (this request only)."""
    if given:
        return "key:" + given[:200]
    if getattr(user, "routing_key", None):  # an API key: its own id
        return user.routing_key
    if access.is_authenticated(user=user):
        return f"user:{user.pk}"
    return "random:" + uuid.uuid4().hex


def routed_number(*, model_name: str, key: str) -> int | None:
    """The version number the routes give this key, or None (production)."""
    policy = policy_of(model_name=model_name)
    if not policy.routes:
        return None
    digest = hashlib.sha256(f"{model_name}\0{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % 100
    total = 0
    for version, weight in policy.routes:
        total += weight
        if point < total:
            return version
    return policy.routes[-1][0]


# --- changing a policy ---------------------------------------------------------------------


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number, got {value!r}", field=what.split()[0])
    return value


def _validate(model: RegisteredModel, routes, shadows) -> Policy:
    if not isinstance(routes, list):
        raise InvalidInput("'routes' must be a list of {version, weight}", field="routes")
    if not isinstance(shadows, list):
        raise InvalidInput("'shadows' must be a list of version numbers", field="shadows")
    pairs = []
    for i, route in enumerate(routes):
        if not isinstance(route, dict) or set(route) != {"version", "weight"}:
            raise InvalidInput(
                f"routes[{i}] must be an object with exactly 'version' and 'weight'", field="routes"
            )
        version = _whole(route["version"], "routes version")
        weight = _whole(route["weight"], "routes weight")
        if not 1 <= weight <= 100:
            raise InvalidInput(
                f"routes[{i}]: weight {weight} is not between 1 and 100", field="routes"
            )
        pairs.append((version, weight))
    numbers = [_whole(v, "shadows version") for v in shadows]
    if routes and sum(w for _, w in pairs) != 100:
        raise InvalidInput(
            f"the route weights sum to {sum(w for _, w in pairs)}, not 100", field="routes"
        )
    routed = [v for v, _ in pairs]
    for label, listed in (("routes", routed), ("shadows", numbers)):
        twice = sorted({v for v in listed if listed.count(v) > 1})
        if twice:
            raise InvalidInput(f"version {twice[0]} is listed twice in {label}", field=label)
    both = sorted(set(routed) & set(numbers))
    if both:
        raise InvalidInput(f"version {both[0]} cannot be both routed and a shadow", field="shadows")
    found = {
        number: (stage, schema)
        for number, stage, schema in ModelVersion.objects.filter(
            model=model, version__in=routed + numbers
        ).values_list("version", "stage", "schema")
    }
    for label, listed in (("routes", routed), ("shadows", numbers)):
        for number in listed:
            if number not in found:
                raise InvalidInput(f"model {model.name!r} has no version {number}", field=label)
            if found[number][0] == Stage.ARCHIVED:
                raise InvalidInput(
                    f"version {number} is archived: it cannot take traffic", field=label
                )
    _same_inputs_check(model, routed, numbers, found)
    return Policy(tuple(pairs), tuple(numbers))


def _same_inputs_check(model, routed: list, shadows: list, found: dict) -> None:
    """Production's clients send production's features: a routed or shadow version that
    needs others would refuse (or, a shadow, silently fail on) every one of their rows."""
    production = (
        ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION)
        .values_list("version", "schema")
        .first()
    )
    if production is None:
        return
    for label, listed in (("routes", routed), ("shadows", shadows)):
        for number in listed:
            change = schema_change(old=production[1], new=found[number][1])
            if change:
                raise InvalidInput(
                    f"version {number} takes other inputs than production v{production[0]} "
                    f"({change.words()}): it cannot take production's traffic",
                    field=label,
                    version=number,
                    schema_change=change.as_dict(),
                )


def _record(model, row: TrafficPolicy, old: Policy, new: Policy, reason: str, user) -> None:
    row.routes, row.shadows = new.as_dict()["routes"], list(new.shadows)
    row.reason, row.updated_by = reason, user
    row.save()
    TrafficChange.objects.create(
        model=model, old=old.as_dict(), new=new.as_dict(), reason=reason, created_by=user
    )
    registrycache.changed()


def policy_set(
    *, model: RegisteredModel, routes, shadows, reason: str = "", user=None
) -> TrafficPolicy:
    """Replace the model's policy (validated), recording the change."""
    actor = access.actor(user=user)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the traffic changes ('reason')", field="reason")
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        new = _validate(locked, routes, shadows)
        row, _ = TrafficPolicy.objects.get_or_create(model=locked)
        _record(locked, row, _policy(row), new, reason[:2000], actor)
    return row


def policy_row(*, model: RegisteredModel) -> TrafficPolicy:
    """The stored policy (an unsaved empty one when the model never had one)."""
    return TrafficPolicy.objects.filter(model=model).first() or TrafficPolicy(model=model)


def rescaled(*, routes: tuple, removed: int) -> tuple:
    """The routes without `removed`, the others' weights scaled to sum to 100 (largest
    remainders get the odd points); () when nothing is left."""
    kept = [(v, w) for v, w in routes if v != removed]
    total = sum(w for _, w in kept)
    if not kept or not total:
        return ()
    exact = [(v, w * 100 / total) for v, w in kept]
    floors = [(v, int(x)) for v, x in exact]
    short = 100 - sum(w for _, w in floors)
    order = sorted(range(len(exact)), key=lambda i: -(exact[i][1] - floors[i][1]))
    weights = [w for _, w in floors]
    for i in order[:short]:
        weights[i] += 1
    return tuple((v, w) for (v, _), w in zip(floors, weights) if w > 0)


def on_version_archived(*, version: ModelVersion, user=None) -> None:
    """A version went to `archived` (in the caller's transaction): take it out of its
    model's routes and shadows, rescale the weights, record the change."""
    row = TrafficPolicy.objects.select_for_update().filter(model_id=version.model_id).first()
    if row is None:
        return
    old = _policy(row)
    number = version.version
    if number not in [v for v, _ in old.routes] and number not in old.shadows:
        return
    new = Policy(
        rescaled(routes=old.routes, removed=number), tuple(v for v in old.shadows if v != number)
    )
    actor = access.actor(user=user)
    reason = f"version {number} was archived: removed from the traffic policy"
    _record(version.model, row, old, new, reason, actor)


# --- policies written as text (the staff page, the admin) ---------------------------------


def routes_parse(*, text: str) -> list[dict]:
    """`2:90, 3:10` → [{"version": 2, "weight": 90}, ...] (blank: none)."""
    routes = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        version, sep, weight = part.partition(":")
        if not sep or not version.strip().isdigit() or not weight.strip().isdigit():
            raise InvalidInput(
                f"{part!r}: write each route as version:weight, e.g. 2:90, 3:10", field="routes"
            )
        routes.append({"version": int(version), "weight": int(weight)})
    return routes


def shadows_parse(*, text: str) -> list[int]:
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise InvalidInput("shadows: version numbers separated by commas, e.g. 4", field="shadows")
    return [int(p) for p in parts]


def policy_check(*, model: RegisteredModel, routes, shadows) -> None:
    """InvalidInput if the policy could not be set (before anything is saved)."""
    _validate(model, routes, shadows)
