"""Scoring a fitted pipeline on held-out rows: the metrics a version records."""

import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from predictor.services.training.algorithms import R


def evaluate(*, pipeline, X_test, y_test, task: str, classes: list | None) -> dict:
    """Holdout metrics: R², MAE, RMSE; or accuracy, macro P/R/F1, ROC AUC, confusion."""
    predicted = pipeline.predict(X_test)
    if task == R:
        return {
            "r2": float(r2_score(y_test, predicted)),
            "mae": float(mean_absolute_error(y_test, predicted)),
            "rmse": float(math.sqrt(mean_squared_error(y_test, predicted))),
        }
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "precision_macro": float(
            precision_score(y_test, predicted, average="macro", zero_division=0)
        ),
        "recall_macro": float(recall_score(y_test, predicted, average="macro", zero_division=0)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro", zero_division=0)),
        "roc_auc": None,
        "confusion_matrix": {
            "labels": classes,
            "matrix": confusion_matrix(y_test, predicted, labels=classes).tolist(),
        },
    }
    if hasattr(pipeline, "predict_proba"):
        try:
            proba = pipeline.predict_proba(X_test)
            if len(classes) == 2:
                metrics["roc_auc"] = float(
                    roc_auc_score(np.asarray(y_test) == classes[1], proba[:, 1])
                )
            else:
                metrics["roc_auc"] = float(
                    roc_auc_score(y_test, proba, multi_class="ovr", labels=classes)
                )
        except ValueError:
            # Not defined when the holdout lacks a class.
            metrics["roc_auc"] = None
    return metrics


def score(*, pipeline, X, y, task: str) -> float:
    """The main metric (accuracy or R²) of one fold."""
    predicted = pipeline.predict(X)
    return float(r2_score(y, predicted) if task == R else accuracy_score(y, predicted))
