"""Fitting: the service's preprocessing pipeline around an estimator, fitted and scored."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from predictor.models import Task
from predictor.services.monitoring.reference import reference_stats_from_frame
from predictor.services.schema import (
    column_is_numeric,
    schema_from_frame,
)
from predictor.services.training import search
from predictor.services.training.algorithms import (
    MAIN_METRIC,
    C,
    estimator_for,
    params_jsonable,
)
from predictor.services.training.evaluate import evaluate


@dataclass
class Fitted:
    """Everything a new version needs, before anything is written."""

    pipeline: Pipeline
    params: dict
    metrics: dict
    classes: list | None
    schema: list[dict]
    reference_stats: dict
    holdout: pd.DataFrame  # the test rows' features, to verify the compiled model on
    holdout_target: pd.Series | None = None  # their target (retraining scores production too)


def _silent(value: float, message: str) -> None:
    pass


def build_pipeline(*, X: pd.DataFrame, estimator) -> Pipeline:
    """Impute and scale numeric columns, impute and one-hot encode categorical ones."""
    numeric = [c for c in X.columns if column_is_numeric(series=X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ]
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


def split_features(*, frame: pd.DataFrame, target: str, task: str):
    """Features (text columns as plain objects, NaN for missing) and the target."""
    X = frame.drop(columns=[target])
    for name in X.columns:
        if not column_is_numeric(series=X[name]):
            # One plain dtype for text columns (pandas 3 reads them as `str`), NaN for missing.
            X[name] = X[name].astype(object).map(lambda v: str(v) if pd.notna(v) else np.nan)
    y = frame[target]
    if task == C and not pd.api.types.is_integer_dtype(y):
        y = y.astype(object).map(str) if not column_is_numeric(series=y) else y
    return X, y


def _estimator(req):
    estimator = estimator_for(algorithm=req.algorithm, task=req.task)
    if "random_state" in estimator.get_params(deep=False) and req.random_state is not None:
        estimator.set_params(random_state=req.random_state)
    return estimator.set_params(**req.params)


def fit(*, req, progress=_silent, extra: pd.DataFrame | None = None) -> Fitted:
    """Split, (search or cross-validate,) fit and evaluate; no database writes. `extra`
    rows (retraining's feedback) join the training part only, after the split: the holdout
    is the dataset's own."""
    X, y = split_features(frame=req.frame, target=req.target, task=req.task)
    progress(0.1, "splitting data")
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=req.test_size,
        random_state=req.random_state,
        stratify=y if req.task == C else None,
    )
    if extra is not None and len(extra):
        X_extra, y_extra = split_features(frame=extra, target=req.target, task=req.task)
        X_train = pd.concat([X_train, X_extra], ignore_index=True)
        y_train = pd.concat([y_train, y_extra], ignore_index=True)
    estimator = _estimator(req)
    params = {**estimator.get_params(deep=False)}
    pipeline = build_pipeline(X=X_train, estimator=estimator)
    if req.search_space:
        pipeline, best, cv_summary = search.grid_search(
            pipeline=pipeline, req=req, X_train=X_train, y_train=y_train, progress=progress
        )
        params.update(best)
    else:
        cv_summary = (
            search.cross_validate(
                pipeline=pipeline, req=req, X_train=X_train, y_train=y_train, progress=progress
            )
            if req.cv
            else None
        )
        progress(0.75, "fitting the final model")
        pipeline.fit(X_train, y_train)
    progress(0.85, "evaluating on the holdout")
    classes = np.asarray(pipeline.classes_).tolist() if req.task == C else None
    metrics = evaluate(
        pipeline=pipeline, X_test=X_test, y_test=y_test, task=req.task, classes=classes
    )
    metrics.update(
        {
            "main": MAIN_METRIC[req.task],
            "cv": cv_summary,
            "n_train": len(X_train),
            "n_test": len(X_test),
        }
    )
    return Fitted(
        pipeline=pipeline,
        params=params_jsonable(params=params),
        metrics=metrics,
        classes=classes,
        schema=schema_from_frame(X=X_train),
        reference_stats=reference_stats_from_frame(
            X=X_train,
            y=y_train,
            classification=req.task == Task.CLASSIFICATION,
            sensitive=req.sealed,
        ),
        holdout=X_test,
        holdout_target=y_test,
    )
