"""Training: a validated request, fitted into a pipeline, scored, stored as a new version.

validate.py (one validation for every door) → fit.py (pipeline, split, fit) with search.py
(cross-validation, grid search) and evaluate.py (metrics) → run.py (the `train` job);
retrain.py (the `retrain` job: production's data plus feedback, gated promotion) and
policies.py (retraining by itself when due).
"""

from predictor.services.training.algorithms import ALGORITHMS, MAIN_METRIC
from predictor.services.training.fit import build_pipeline, split_features
from predictor.services.training.retrain import retrain_create
from predictor.services.training.run import job_create, train_now
from predictor.services.training.validate import training_request_validate

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
