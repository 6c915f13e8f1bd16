"""One validation of a training request, shared by the API, the train page, the admin and
the `train` command: everything that can be checked before fitting."""

import math
from dataclasses import dataclass, field

import pandas as pd

from predictor.models import Dataset, ModelVersion, Stage, slug_validator
from predictor.services import registry
from predictor.services.errors import InvalidInput
from predictor.services.registry.datasets import dataset_frame, dataset_profile, infer_task
from predictor.services.registry.sensitive import sensitive_names
from predictor.services.schema import column_is_numeric, sensitive_check
from predictor.services.training.algorithms import (
    RANDOM_STATE_MAX,
    C,
    R,
    estimator_for,
    params_check,
)
from predictor.services.training.defaults import (
    CV_DEFAULT,
    MAX_CV,
    RANDOM_STATE_DEFAULT,
    TEST_SIZE_DEFAULT,
    TEST_SIZE_MAX,
    TEST_SIZE_MIN,
)

MAX_SEARCH_CANDIDATES = 200


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
    sensitive: list = field(default_factory=list)
    # What the new version's reference statistics keep coarse: the request's sensitive
    # features and the model's own list (sealed in the log either way).
    sealed: list = field(default_factory=list)
    # The columns left out of the features, name → why ("identifier", "constant", "asked").
    excluded: dict = field(default_factory=dict)

    @property
    def left_out(self) -> str:
        """The excluded columns in words: "customer_id (identifier), plan (constant)"."""
        return ", ".join(f"{name} ({why})" for name, why in self.excluded.items())


def training_request_validate(
    *,
    dataset: Dataset,
    model_name: str | None = None,
    algorithm: str,
    params: dict | None = None,
    search_space: dict | None = None,
    test_size: float = TEST_SIZE_DEFAULT,
    cv: int = CV_DEFAULT,
    random_state: int | None = RANDOM_STATE_DEFAULT,
    task: str | None = None,
    target: str | None = None,
    sensitive: list | None = None,
    exclude: list[str] | None = None,
) -> CleanRequest:
    """Check everything about a training request that can be checked before fitting (no
    model name: the dataset's; `exclude` None: the columns its profile notes)."""
    model_name = model_name or dataset.name
    _check_model_name(model_name)
    _check_split(test_size, cv)
    _check_random_state(random_state)
    frame, target = _target_frame(dataset, target)
    task = _task(frame, target, task, model_name)
    estimator = estimator_for(algorithm=algorithm, task=task)
    params = params or {}
    params_check(estimator=estimator, algorithm=algorithm, params=params)
    _check_search_space(estimator, algorithm, search_space)
    if task == C:
        _check_classes(frame[target], target, test_size, cv or (3 if search_space else 0))
    excluded = _excluded(dataset, frame, target, exclude, model_name=model_name)
    frame = frame.drop(columns=list(excluded))
    features = [c for c in frame.columns if c != target]
    sensitive = sensitive_check(names=sensitive or [], features=features)
    sealed = [
        *sensitive,
        *(
            n
            for n in sensitive_names(model_name=model_name, features=features)
            if n not in sensitive
        ),
    ]
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
        sensitive=sensitive,
        sealed=sealed,
        excluded=excluded,
    )


def _excluded(
    dataset: Dataset, frame: pd.DataFrame, target: str, exclude, *, model_name: str
) -> dict[str, str]:
    """The columns to leave out, name → why: the ones asked for, or (None) the ones the
    dataset's profile notes as identifier or constant — unless that would leave no feature,
    and but for the inputs of the model's production version (its clients send them, and a
    retrain scores it on the new version's holdout)."""
    features = [c for c in frame.columns if c != target]
    notes = {c["name"]: c["note"] for c in dataset_profile(dataset=dataset) if c["note"]}
    if exclude is None:
        kept = _production_inputs(model_name)
        noted = {name: notes[name] for name in features if name in notes and name not in kept}
        return noted if len(noted) < len(features) else {}
    if not isinstance(exclude, list) or not all(isinstance(n, str) for n in exclude):
        raise InvalidInput("'exclude' must be a list of column names", field="exclude")
    unknown = [n for n in exclude if n not in frame.columns]
    if unknown:
        raise InvalidInput(
            f"'exclude' names {', '.join(map(repr, unknown))}, not a column of dataset "
            f"{dataset.name!r}; its columns are: {', '.join(frame.columns)}",
            field="exclude",
        )
    if target in exclude:
        raise InvalidInput(
            f"'exclude' names the target {target!r}: the target cannot be left out",
            field="exclude",
        )
    if set(features) <= set(exclude):
        raise InvalidInput(
            "'exclude' leaves out every feature: at least one column must stay", field="exclude"
        )
    return {name: notes.get(name, "asked") for name in dict.fromkeys(exclude)}


def _production_inputs(model_name: str) -> set[str]:
    production = ModelVersion.objects.filter(model__name=model_name, stage=Stage.PRODUCTION).first()
    return {f["name"] for f in production.schema} if production else set()


def _check_model_name(model_name) -> None:
    try:
        slug_validator(model_name or "")
    except Exception:
        raise InvalidInput(
            f"invalid model name {model_name!r}: use lowercase letters, digits, '-' and '_'",
            field="model",
        ) from None


def _check_split(test_size, cv) -> None:
    between = f"between {TEST_SIZE_MIN} and {TEST_SIZE_MAX}"
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        raise InvalidInput(f"test_size must be a number {between}", field="test_size")
    if not TEST_SIZE_MIN <= float(test_size) <= TEST_SIZE_MAX:
        raise InvalidInput(f"test_size must be {between}, got {test_size}", field="test_size")
    if isinstance(cv, bool) or not isinstance(cv, int) or not (cv == 0 or 2 <= cv <= MAX_CV):
        raise InvalidInput(
            f"cv must be 0 (no cross-validation) or a whole number from 2 to {MAX_CV}, got {cv!r}",
            field="cv",
        )


def _check_random_state(random_state) -> None:
    if random_state is not None and (
        isinstance(random_state, bool)
        or not isinstance(random_state, int)
        or not 0 <= random_state <= RANDOM_STATE_MAX
    ):
        raise InvalidInput(
            f"random_state must be a whole number from 0 to {RANDOM_STATE_MAX} (2**32 - 1)",
            field="random_state",
        )


def _target_frame(dataset: Dataset, target: str | None) -> tuple[pd.DataFrame, str]:
    """The dataset's rows that have a target value, and the target's name."""
    frame = dataset_frame(dataset=dataset)
    target = target or dataset.target
    if target not in frame.columns:
        raise InvalidInput(
            f"the target column {target!r} is not in dataset {dataset.name!r}; its columns are: "
            + ", ".join(frame.columns),
            field="target",
        )
    return frame[frame[target].notna()], target


def _task(frame: pd.DataFrame, target: str, task: str | None, model_name: str) -> str:
    """The task asked for, or the one the target suggests; it must fit the model's."""
    task = task or infer_task(target=frame[target])
    registry.model_check_task(name=model_name, task=task)
    if task == R and not column_is_numeric(series=frame[target]):
        raise InvalidInput(
            f"target {target!r} is not numeric, so it cannot be a regression target", field="task"
        )
    return task


def _check_search_space(estimator, algorithm: str, search_space) -> None:
    """Every candidate of a search passes the same checks as `params`, and not too many."""
    if not search_space:
        return
    if not isinstance(search_space, dict):
        raise InvalidInput("search_space must be an object of parameter → list of values")
    for key, values in search_space.items():
        if not isinstance(values, list) or not values:
            raise InvalidInput(
                f"search_space[{key!r}] must be a non-empty list of values",
                field="search_space",
            )
        for value in values:
            params_check(
                estimator=estimator, algorithm=algorithm, params={key: value}, where="search_space"
            )
    candidates = math.prod(len(v) for v in search_space.values())
    if candidates > MAX_SEARCH_CANDIDATES:
        raise InvalidInput(
            f"search_space has {candidates} combinations; the limit is {MAX_SEARCH_CANDIDATES}",
            field="search_space",
        )


def _check_classes(y: pd.Series, target: str, test_size, folds: int) -> None:
    """Two classes at least, each with enough rows for the split and the folds."""
    counts = y.astype(str).value_counts()
    if len(counts) < 2:
        raise InvalidInput(
            f"target {target!r} has a single class ({counts.index[0]!r}): "
            "classification needs at least two",
            field="target",
        )
    needed = max(2, math.ceil(folds / (1 - float(test_size))))
    if counts.min() < needed:
        raise InvalidInput(
            f"class {counts.idxmin()!r} of target {target!r} has {counts.min()} rows; "
            f"with test_size={test_size} and cv={folds} each class needs at least {needed}",
            field="target",
        )
