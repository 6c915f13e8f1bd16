"""The algorithms the service trains, their parameters, and the service's bounds on them.

scikit-learn is imported when an estimator is made, not when this module is: a server
process that only serves compiled models (and lists the algorithms in its forms) does not
import it (about 100 MB with scipy)."""

import importlib
import math

import numpy as np

from predictor.models import Task
from predictor.services.errors import InvalidInput

C, R = Task.CLASSIFICATION, Task.REGRESSION


def _factory(path: str, **defaults):
    """A factory of the estimator class at `path` ("module.Class"), imported on first use."""
    module, _, name = path.rpartition(".")

    def make():
        return getattr(importlib.import_module(module), name)(**defaults)

    return make


# name → {task: estimator factory}. Only the tasks where the algorithm makes sense.
ALGORITHMS = {
    "logistic_regression": {C: _factory("sklearn.linear_model.LogisticRegression", max_iter=2000)},
    "linear_regression": {R: _factory("sklearn.linear_model.LinearRegression")},
    "ridge": {R: _factory("sklearn.linear_model.Ridge")},
    "decision_tree": {
        C: _factory("sklearn.tree.DecisionTreeClassifier"),
        R: _factory("sklearn.tree.DecisionTreeRegressor"),
    },
    "random_forest": {
        C: _factory("sklearn.ensemble.RandomForestClassifier"),
        R: _factory("sklearn.ensemble.RandomForestRegressor"),
    },
    "gradient_boosting": {
        C: _factory("sklearn.ensemble.GradientBoostingClassifier"),
        R: _factory("sklearn.ensemble.GradientBoostingRegressor"),
    },
    "svm": {
        C: _factory("predictor.services.training.estimators.SVMClassifier"),
        R: _factory("sklearn.svm.SVR"),
    },
    "knn": {
        C: _factory("sklearn.neighbors.KNeighborsClassifier"),
        R: _factory("sklearn.neighbors.KNeighborsRegressor"),
    },
    "mlp": {
        C: _factory("sklearn.neural_network.MLPClassifier", max_iter=2000),
        R: _factory("sklearn.neural_network.MLPRegressor", max_iter=2000),
    },
}
# Parameters the service sets itself: changing them would break what it promises.
RESERVED_PARAMS: dict[str, set] = {}
MAIN_METRIC = {C: "accuracy", R: "r2"}
RANDOM_STATE_MAX = 2**32 - 1

# The service's bounds on hyperparameters, on top of scikit-learn's own checks: a value
# outside them would occupy a worker for hours or exhaust its memory. (low, high), either
# None; they apply to every algorithm that has the parameter, and to every candidate of a
# search. docs/security.md, "Training bounds", lists them.
PARAM_BOUNDS = {
    "n_estimators": (1, 2_000),
    "max_iter": (1, 100_000),
    "max_depth": (1, 100),
    "max_leaf_nodes": (2, 100_000),
    "min_samples_split": (None, 100_000),
    "min_samples_leaf": (None, 100_000),
    "n_neighbors": (1, 1_000),
    "leaf_size": (1, 10_000),
    "p": (None, 100),
    "degree": (0, 10),
    "C": (None, 1e6),
    "alpha": (None, 1e6),
    "cache_size": (None, 2_000),
    "max_fun": (1, 100_000),
    "n_iter_no_change": (1, 10_000),
    "batch_size": (1, 100_000),
    "learning_rate_init": (None, 10.0),
    "tol": (1e-12, None),
    "n_jobs": (1, 1),
    "random_state": (0, RANDOM_STATE_MAX),
}
MLP_MAX_UNITS = 4_096
MLP_MAX_LAYERS = 10


def estimator_for(*, algorithm: str, task: str):
    """A fresh, unfitted estimator of the algorithm for the task (InvalidInput otherwise)."""
    if algorithm not in ALGORITHMS:
        raise InvalidInput(
            f"unknown algorithm {algorithm!r}; use one of: {', '.join(ALGORITHMS)}",
            field="algorithm",
        )
    factories = ALGORITHMS[algorithm]
    if task not in factories:
        raise InvalidInput(
            f"algorithm {algorithm!r} is not available for {task}; it supports "
            + ", ".join(factories),
            field="algorithm",
        )
    return factories[task]()


def _json_scalar(value) -> bool:
    return (
        value is None
        or isinstance(value, (bool, int, float, str))
        and not (isinstance(value, float) and not math.isfinite(value))
    )


def params_check(*, estimator, algorithm: str, params: dict, where: str = "params") -> None:
    """Unknown names, values beyond the bounds and bad values are refused before any work."""
    if not isinstance(params, dict):
        raise InvalidInput(f"'{where}' must be an object of parameter names and values")
    valid = estimator.get_params(deep=False)
    reserved = RESERVED_PARAMS.get(algorithm, set())
    for key, value in params.items():
        if key not in valid or key in reserved:
            allowed = ", ".join(sorted(k for k in valid if k not in reserved))
            raise InvalidInput(
                f"unknown parameter {key!r} for {algorithm}; valid parameters: {allowed}",
                field=where,
            )
        ok = _json_scalar(value) or (
            isinstance(value, list) and all(_json_scalar(v) and v is not None for v in value)
        )
        if not ok:
            raise InvalidInput(f"parameter {key!r} has an unsupported value {value!r}", field=where)
        _check_bound(key, value, where)
    from sklearn.base import clone

    trial = clone(estimator)
    trial.set_params(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    try:
        trial._validate_params()
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"invalid {where}: {exc}", field=where) from None


def _check_bound(key: str, value, where: str) -> None:
    """A value beyond the service's bound for its parameter → InvalidInput naming both."""
    if key == "hidden_layer_sizes":
        layers = value if isinstance(value, list) else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in layers):
            if sum(layers) > MLP_MAX_UNITS or len(layers) > MLP_MAX_LAYERS:
                raise InvalidInput(
                    f"parameter 'hidden_layer_sizes' is {value!r}: at most {MLP_MAX_UNITS} "
                    f"hidden units in all, in at most {MLP_MAX_LAYERS} layers",
                    field=where,
                )
        return
    if key == "learning_rate" and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = None, 10.0
    elif key in PARAM_BOUNDS:
        low, high = PARAM_BOUNDS[key]
    else:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return  # not a number: scikit-learn's own check names what it accepts
    if (low is not None and value < low) or (high is not None and value > high):
        bound = (
            f"from {low:g} to {high:g}"
            if low is not None and high is not None
            else (f"at most {high:g}" if high is not None else f"at least {low:g}")
        )
        raise InvalidInput(
            f"parameter {key!r} is {value!r}; the service's bound is {bound}", field=where
        )


def params_jsonable(*, params: dict) -> dict:
    """An estimator's parameters as JSON values (tuples as lists, others by their repr)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value if _json_scalar(value) or isinstance(value, list) else repr(value)
    return out
