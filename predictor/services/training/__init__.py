"""Training: a validated request, fitted into a pipeline, scored, stored as a new version.

validate.py (one validation for every door) → fit.py (pipeline, split, fit) with search.py
(cross-validation, grid search) and evaluate.py (metrics) → run.py (the `train` job);
retrain.py (the `retrain` job: production's data plus feedback, gated promotion) and
policies.py (retraining by itself when due).
"""

import importlib

from predictor.services.training.algorithms import ALGORITHMS, MAIN_METRIC

# The rest is imported on first use (PEP 562): they import scikit-learn and pandas, which a
# server process that only serves compiled models never needs.
_LAZY = {
    "build_pipeline": "fit",
    "split_features": "fit",
    "retrain_create": "retrain",
    "job_create": "run",
    "train_now": "run",
    "training_request_validate": "validate",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    else:  # a submodule not imported yet (training.run, ...)
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


__all__ = [
    "ALGORITHMS",
    "MAIN_METRIC",
    "build_pipeline",
    "job_create",
    "retrain_create",
    "split_features",
    "train_now",
    "training_request_validate",
]
