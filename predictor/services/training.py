"""Training: dataset → validated request → fitted pipeline → ModelVersion with metrics."""

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.utils import timezone
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
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
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from predictor.models import Dataset, JobStatus, Task, TrainingJob, slug_validator
from predictor.services import artifacts, jobs, registry
from predictor.services.datasets import dataset_frame, infer_task
from predictor.services.errors import InvalidInput, ServiceError
from predictor.services.schema import (
    column_is_numeric,
    reference_stats_from_frame,
    schema_from_frame,
)

log = logging.getLogger(__name__)

C, R = Task.CLASSIFICATION, Task.REGRESSION

# name → {task: estimator factory}. Only the tasks where the algorithm makes sense.
ALGORITHMS = {
    "logistic_regression": {C: lambda: LogisticRegression(max_iter=2000)},
    "linear_regression": {R: LinearRegression},
    "ridge": {R: Ridge},
    "decision_tree": {C: DecisionTreeClassifier, R: DecisionTreeRegressor},
    "random_forest": {C: RandomForestClassifier, R: RandomForestRegressor},
    "gradient_boosting": {C: GradientBoostingClassifier, R: GradientBoostingRegressor},
    "svm": {C: lambda: SVC(probability=True), R: SVR},
    "knn": {C: KNeighborsClassifier, R: KNeighborsRegressor},
    "mlp": {C: lambda: MLPClassifier(max_iter=2000), R: lambda: MLPRegressor(max_iter=2000)},
}
# Parameters the service sets itself: changing them would break what it promises.
RESERVED_PARAMS = {"svm": {"probability"}}
MAIN_METRIC = {C: "accuracy", R: "r2"}
MAX_SEARCH_CANDIDATES = 200
MAX_CV = 20
RANDOM_STATE_MAX = 2**32 - 1

# The service's bounds on hyperparameters, on top of scikit-learn's own checks: a value
# outside them would occupy a worker for hours or exhaust its memory. (low, high), either
# None; they apply to every algorithm that has the parameter, and to every candidate of a
# search. README "Training bounds" lists them.
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


def _check_params(estimator, algorithm: str, params: dict, where: str = "params") -> None:
    """Unknown names and bad values are refused here, before any work starts."""
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
    for key, value in params.items():
        _check_bound(key, value, where)
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


@dataclass
class CleanRequest:
    dataset: Dataset
    frame: pd.DataFrame
    model_name: str
    task: str
    target: str
    algorithm: str
    params: dict
    search_space: dict | None
    test_size: float
    cv: int
    random_state: int | None


def training_request_validate(
    *,
    dataset: Dataset,
    model_name: str,
    algorithm: str,
    params: dict | None = None,
    search_space: dict | None = None,
    test_size: float = 0.2,
    cv: int = 5,
    random_state: int | None = 0,
    task: str | None = None,
    target: str | None = None,
) -> CleanRequest:
    """Check everything about a training request that can be checked before fitting."""
    try:
        slug_validator(model_name or "")
    except Exception:
        raise InvalidInput(
            f"invalid model name {model_name!r}: use lowercase letters, digits, '-' and '_'",
            field="model",
        ) from None
    params = params or {}
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        raise InvalidInput("test_size must be a number between 0.05 and 0.5", field="test_size")
    if not 0.05 <= float(test_size) <= 0.5:
        raise InvalidInput(
            f"test_size must be between 0.05 and 0.5, got {test_size}", field="test_size"
        )
    if isinstance(cv, bool) or not isinstance(cv, int) or not (cv == 0 or 2 <= cv <= MAX_CV):
        raise InvalidInput(
            f"cv must be 0 (no cross-validation) or a whole number from 2 to {MAX_CV}, got {cv!r}",
            field="cv",
        )
    if random_state is not None and (
        isinstance(random_state, bool)
        or not isinstance(random_state, int)
        or not 0 <= random_state <= RANDOM_STATE_MAX
    ):
        raise InvalidInput(
            f"random_state must be a whole number from 0 to {RANDOM_STATE_MAX} (2**32 - 1)",
            field="random_state",
        )

    frame = dataset_frame(dataset)
    target = target or dataset.target
    if target not in frame.columns:
        raise InvalidInput(
            f"the target column {target!r} is not in dataset {dataset.name!r}; its columns are: "
            + ", ".join(frame.columns),
            field="target",
        )
    frame = frame[frame[target].notna()]
    task = task or infer_task(frame[target])
    registry.model_check_task(name=model_name, task=task)
    if task == R and not column_is_numeric(frame[target]):
        raise InvalidInput(
            f"target {target!r} is not numeric, so it cannot be a regression target", field="task"
        )
    estimator = estimator_for(algorithm=algorithm, task=task)
    _check_params(estimator, algorithm, params)
    if search_space:
        if not isinstance(search_space, dict):
            raise InvalidInput("search_space must be an object of parameter → list of values")
        for key, values in search_space.items():
            if not isinstance(values, list) or not values:
                raise InvalidInput(
                    f"search_space[{key!r}] must be a non-empty list of values",
                    field="search_space",
                )
            for value in values:
                _check_params(estimator, algorithm, {key: value}, where="search_space")
        candidates = math.prod(len(v) for v in search_space.values())
        if candidates > MAX_SEARCH_CANDIDATES:
            raise InvalidInput(
                f"search_space has {candidates} combinations; the limit is {MAX_SEARCH_CANDIDATES}",
                field="search_space",
            )
    if task == C:
        counts = frame[target].astype(str).value_counts()
        if len(counts) < 2:
            raise InvalidInput(
                f"target {target!r} has a single class ({counts.index[0]!r}): "
                "classification needs at least two",
                field="target",
            )
        folds = cv or (3 if search_space else 0)
        needed = max(2, math.ceil(folds / (1 - float(test_size))))
        if counts.min() < needed:
            raise InvalidInput(
                f"class {counts.idxmin()!r} of target {target!r} has {counts.min()} rows; "
                f"with test_size={test_size} and cv={folds} each class needs at least {needed}",
                field="target",
            )
    return CleanRequest(
        dataset=dataset,
        frame=frame.reset_index(drop=True),
        model_name=model_name,
        task=task,
        target=target,
        algorithm=algorithm,
        params=params,
        search_space=search_space or None,
        test_size=float(test_size),
        cv=cv,
        random_state=random_state,
    )


def build_pipeline(X: pd.DataFrame, estimator) -> Pipeline:
    numeric = [c for c in X.columns if column_is_numeric(X[c])]
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


def split_features(frame: pd.DataFrame, target: str, task: str):
    X = frame.drop(columns=[target])
    for name in X.columns:
        if not column_is_numeric(X[name]):
            # One plain dtype for text columns (pandas 3 reads them as `str`), NaN for missing.
            X[name] = X[name].astype(object).map(lambda v: str(v) if pd.notna(v) else np.nan)
    y = frame[target]
    if task == C and not pd.api.types.is_integer_dtype(y):
        y = y.astype(object).map(str) if not column_is_numeric(y) else y
    return X, y


def _to_native(values) -> list:
    return np.asarray(values).tolist()


def evaluate(pipeline, X_test, y_test, task: str, classes: list | None) -> dict:
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


def _score(pipeline, X, y, task) -> float:
    predicted = pipeline.predict(X)
    return float(accuracy_score(y, predicted) if task == C else r2_score(y, predicted))


def _progress(job: TrainingJob | None, value: float, message: str) -> None:
    if job is None:
        return
    TrainingJob.objects.filter(pk=job.pk).update(progress=round(value, 3), message=message)


def _splitter(task: str, folds: int, random_state):
    if task == C:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return KFold(n_splits=folds, shuffle=True, random_state=random_state)


def fit(req: CleanRequest, job: TrainingJob | None = None) -> dict:
    """Fit and evaluate; returns everything a ModelVersion needs (no database writes)."""
    X, y = split_features(req.frame, req.target, req.task)
    _progress(job, 0.1, "splitting data")
    stratify = y if req.task == C else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=req.test_size, random_state=req.random_state, stratify=stratify
    )
    estimator = estimator_for(algorithm=req.algorithm, task=req.task)
    if "random_state" in estimator.get_params(deep=False) and req.random_state is not None:
        estimator.set_params(random_state=req.random_state)
    estimator.set_params(**req.params)
    pipeline = build_pipeline(X_train, estimator)
    main = MAIN_METRIC[req.task]
    params = {**estimator.get_params(deep=False)}
    cv_summary = None

    if req.search_space:
        _progress(job, 0.2, "searching hyperparameters")
        folds = req.cv or 3
        grid = {f"model__{k}": v for k, v in req.search_space.items()}
        search = GridSearchCV(
            pipeline,
            grid,
            cv=_splitter(req.task, folds, req.random_state),
            scoring="accuracy" if req.task == C else "r2",
            n_jobs=1,
            error_score="raise",
        )
        search.fit(X_train, y_train)
        pipeline = search.best_estimator_
        best = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
        params.update(best)
        i = search.best_index_
        cv_summary = {
            "metric": main,
            "folds": folds,
            "mean": float(search.cv_results_["mean_test_score"][i]),
            "std": float(search.cv_results_["std_test_score"][i]),
            "best_params": best,
            "candidates": len(search.cv_results_["params"]),
        }
        _progress(job, 0.85, "evaluating on the holdout")
    else:
        if req.cv:
            scores = []
            splits = _splitter(req.task, req.cv, req.random_state).split(X_train, y_train)
            for k, (tr, va) in enumerate(splits, start=1):
                fold_model = clone(pipeline).fit(X_train.iloc[tr], y_train.iloc[tr])
                scores.append(_score(fold_model, X_train.iloc[va], y_train.iloc[va], req.task))
                _progress(job, 0.1 + 0.6 * k / req.cv, f"cross-validation fold {k} of {req.cv}")
            cv_summary = {
                "metric": main,
                "folds": req.cv,
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "scores": scores,
            }
        _progress(job, 0.75, "fitting the final model")
        pipeline.fit(X_train, y_train)
        _progress(job, 0.85, "evaluating on the holdout")

    classes = _to_native(pipeline.classes_) if req.task == C else None
    metrics = evaluate(pipeline, X_test, y_test, req.task, classes)
    metrics.update({"main": main, "cv": cv_summary, "n_train": len(X_train), "n_test": len(X_test)})
    return {
        "pipeline": pipeline,
        "params": _jsonable(params),
        "metrics": metrics,
        "classes": classes,
        "schema": schema_from_frame(X_train),
        "reference_stats": reference_stats_from_frame(X_train),
    }


def _jsonable(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value if _json_scalar(value) or isinstance(value, list) else repr(value)
    return out


def train_version(req: CleanRequest, *, user=None, job: TrainingJob | None = None):
    """Fit, store the artifact, and register the new version."""
    result = fit(req, job)
    _progress(job, 0.95, "saving the artifact")
    stored = artifacts.artifact_save(obj=result["pipeline"])
    model = registry.model_get_or_create(name=req.model_name, task=req.task)
    return registry.version_create(
        model=model,
        user=user,
        algorithm=req.algorithm,
        params=result["params"],
        schema=result["schema"],
        target_name=req.target,
        classes=result["classes"],
        metrics=result["metrics"],
        dataset=req.dataset,
        artifact=stored.name,
        artifact_format=stored.format,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        library_versions=registry.library_versions(),
        reference_stats=result["reference_stats"],
    )


# --- jobs ------------------------------------------------------------------------------------


def job_create(*, dataset: Dataset, user=None, **request) -> TrainingJob:
    """Validate a training request, record it as a queued job and hand it to the runner."""
    req = training_request_validate(dataset=dataset, **request)
    job = TrainingJob.objects.create(
        dataset=dataset,
        model_name=req.model_name,
        task=req.task,
        target=req.target,
        algorithm=req.algorithm,
        params=req.params,
        search_space=req.search_space,
        test_size=req.test_size,
        cv=req.cv,
        random_state=req.random_state,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    jobs.job_enqueue(job)
    job.refresh_from_db()
    return job


def job_run(job_id: int) -> None:
    """Run one queued job to the end; its row says how it went."""
    claimed = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), progress=0.02, message="loading data"
    )
    if not claimed:
        return
    job = TrainingJob.objects.select_related("dataset", "created_by").get(pk=job_id)
    try:
        req = training_request_validate(
            dataset=job.dataset,
            model_name=job.model_name,
            algorithm=job.algorithm,
            params=job.params,
            search_space=job.search_space,
            test_size=job.test_size,
            cv=job.cv,
            random_state=job.random_state,
            task=job.task or None,
            target=job.target or None,
        )
        version = train_version(req, user=job.created_by, job=job)
    except ServiceError as exc:
        _finish(job_id, JobStatus.FAILED, error=exc.message)
    except Exception as exc:  # a job must end with a status, whatever went wrong
        log.exception("training job %s failed", job_id)
        _finish(job_id, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(job_id, JobStatus.SUCCEEDED, version=version)


def _finish(job_id: int, status: str, *, error: str = "", version=None) -> None:
    fields = {
        "status": status,
        "error": error[:5000],
        "version": version,
        "finished_at": timezone.now(),
    }
    if status == JobStatus.SUCCEEDED:
        fields.update(progress=1.0, message="done")
    else:
        fields["message"] = "failed"
    TrainingJob.objects.filter(pk=job_id).update(**fields)


def train_now(*, dataset: Dataset, user=None, **request):
    """Train synchronously (commands, the demo): returns the succeeded job."""
    with jobs.eager():
        job = job_create(dataset=dataset, user=user, **request)
    job.refresh_from_db()
    return job
