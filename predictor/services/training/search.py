"""Cross-validation and hyperparameter search on the training rows."""

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from predictor.services.training.algorithms import MAIN_METRIC, C
from predictor.services.training.evaluate import score


def splitter(*, task: str, folds: int, random_state):
    """Stratified folds for classification, plain shuffled folds for regression."""
    if task == C:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return KFold(n_splits=folds, shuffle=True, random_state=random_state)


def cross_validate(*, pipeline, req, X_train, y_train, progress) -> dict:
    """k-fold scores of the main metric, each fold on a fresh clone."""
    scores = []
    splits = splitter(task=req.task, folds=req.cv, random_state=req.random_state).split(
        X_train, y_train
    )
    for k, (tr, va) in enumerate(splits, start=1):
        fold_model = clone(pipeline).fit(X_train.iloc[tr], y_train.iloc[tr])
        scores.append(
            score(pipeline=fold_model, X=X_train.iloc[va], y=y_train.iloc[va], task=req.task)
        )
        progress(0.1 + 0.6 * k / req.cv, f"cross-validation fold {k} of {req.cv}")
    return {
        "metric": MAIN_METRIC[req.task],
        "folds": req.cv,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "scores": scores,
    }


def grid_search(*, pipeline, req, X_train, y_train, progress):
    """The best pipeline of the search space (refitted on all training rows), its
    parameters, and the cross-validation summary of the winner."""
    progress(0.2, "searching hyperparameters")
    folds = req.cv or 3
    grid = {f"model__{k}": v for k, v in req.search_space.items()}
    search = GridSearchCV(
        pipeline,
        grid,
        cv=splitter(task=req.task, folds=folds, random_state=req.random_state),
        scoring="accuracy" if req.task == C else "r2",
        n_jobs=1,
        error_score="raise",
    )
    search.fit(X_train, y_train)
    best = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    i = search.best_index_
    summary = {
        "metric": MAIN_METRIC[req.task],
        "folds": folds,
        "mean": float(search.cv_results_["mean_test_score"][i]),
        "std": float(search.cv_results_["std_test_score"][i]),
        "best_params": best,
        "candidates": len(search.cv_results_["params"]),
    }
    return search.best_estimator_, best, summary
