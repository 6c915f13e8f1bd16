"""Retraining: the production version's dataset plus the model's logged predictions with
ground truth, scored against production on the dataset's holdout, and a gate that decides
promotion.

A `retrain` job (the runner's kind) trains with the production version's algorithm (or the
one asked for) on its dataset. The dataset is split first; with `include_feedback` the
logged predictions of the model that have an `actual` (its inputs as features, the truth as
target; shadow rows left out, sensitive values decrypted when a key is set, else missing)
then join the training part only, by source: staff's always; other users' only with
`feedback_from="everyone"`, no one user more than RETRAIN_MAX_FEEDBACK_SHARE of the training
rows; anonymous visitors' never. Feedback is evidence, not truth: the new version and the
current production version are scored on the dataset's holdout alone and both figures go on
the job (`metrics` of the version, `baseline_metrics`). Gate `if_better`: production when the
main metric beats production's by more than `min_improvement`, with both figures in the
reason — unless non-staff feedback trained it, which always waits in `staging` for a
person; otherwise (and with gate `never`) the new version goes to `staging`. The version
records its parent and whose feedback it learnt from.
"""

import math
from collections import defaultdict

import numpy as np
import pandas as pd
from django.conf import settings

from predictor.models import (
    FeedbackSource,
    JobKind,
    ModelVersion,
    Prediction,
    RegisteredModel,
    Stage,
    TrainingJob,
)
from predictor.services import access, jobs, registry
from predictor.services.errors import Conflict, InvalidInput
from predictor.services.log import sealing
from predictor.services.registry.versions import production_schema_change
from predictor.services.serving.runtime import pipeline_for
from predictor.services.training.algorithms import MAIN_METRIC
from predictor.services.training.evaluate import evaluate
from predictor.services.training.fit import fit
from predictor.services.training.run import register_fitted
from predictor.services.training.validate import training_request_validate

GATES = ("never", "if_better")
FEEDBACK_FROM = ("staff", "everyone")
LOWER_IS_BETTER = {"rmse", "mae"}


def _production(model: RegisteredModel) -> ModelVersion:
    version = model.versions.filter(stage=Stage.PRODUCTION).select_related("dataset").first()
    if version is None:
        raise Conflict(f"model {model.name!r} has no production version to retrain")
    if version.dataset is None:
        raise InvalidInput(
            f"{model.name} v{version.version} was imported without a dataset: train a new "
            "version on a dataset instead",
            field="model",
        )
    return version


def _number(value, field: str, *, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InvalidInput(f"'{field}' must be a number", field=field)
    if value < low:
        raise InvalidInput(f"'{field}' must be {low:g} or more", field=field)
    return float(value)


def retrain_create(
    *,
    model: RegisteredModel,
    user=None,
    include_feedback: bool = True,
    feedback_from: str = "staff",
    algorithm: str | None = None,
    params: dict | None = None,
    promote: str = "never",
    min_improvement: float = 0.0,
    reason: str = "",
    trigger: str = "requested",
) -> TrainingJob:
    """Validate a retraining request, record it as a queued `retrain` job, enqueue it. A
    person's request counts against their cap of jobs (TooManyJobs); a policy's does not."""
    capped = trigger == "requested"
    if capped:
        jobs.jobs_check_cap(user=user)
    parent = _production(model)
    if promote not in GATES:
        raise InvalidInput(f"'promote' must be one of: {', '.join(GATES)}", field="promote")
    if not isinstance(include_feedback, bool):
        raise InvalidInput("'include_feedback' must be true or false", field="include_feedback")
    if feedback_from not in FEEDBACK_FROM:
        raise InvalidInput(
            f"'feedback_from' must be one of: {', '.join(FEEDBACK_FROM)}", field="feedback_from"
        )
    min_improvement = _number(min_improvement, "min_improvement")
    if algorithm is None:
        if parent.algorithm.startswith("imported:"):
            raise InvalidInput(
                "the production version was imported: name an 'algorithm'", field="algorithm"
            )
        algorithm = parent.algorithm
        job = getattr(parent, "training_job", None)
        params = params if params is not None else (job.params if job else {})
    request = dict(
        model_name=model.name,
        algorithm=algorithm,
        params=params or {},
        task=model.task,
        target=parent.target_name,
        cv=0,
        test_size=0.2,
        random_state=0,
        sensitive=[],  # the model's own list applies when the job runs (validate reads it)
    )
    req = training_request_validate(dataset=parent.dataset, **request)
    job = TrainingJob.objects.create(
        kind=JobKind.RETRAIN,
        dataset=parent.dataset,
        created_by=access.actor(user=user),
        model_name=req.model_name,
        task=req.task,
        target=req.target,
        algorithm=req.algorithm,
        params=req.params,
        cv=0,
        test_size=req.test_size,
        random_state=req.random_state,
        sensitive=req.sensitive,
        options={
            "parent": parent.pk,
            "include_feedback": include_feedback,
            "feedback_from": feedback_from,
            "promote": promote,
            "min_improvement": min_improvement,
            "reason": (reason or "").strip()[:500],
            "trigger": trigger,
        },
    )
    jobs.job_enqueue(job=job, capped=capped)
    job.refresh_from_db()
    return job


def feedback_frame(
    *,
    model_id: int,
    features: list[str],
    target: str,
    feedback_from: str = "staff",
    train_rows: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """The model's logged predictions with trusted ground truth, as training rows, and
    whose they are ({"staff": n, "users": n, "user_ids": [...]}). Staff's all; with
    "everyone" each user's first rows up to RETRAIN_MAX_FEEDBACK_SHARE of the training
    rows (`train_rows` of the dataset plus staff's, so never more once others join)."""
    sources = [FeedbackSource.STAFF]
    if feedback_from == "everyone":
        sources.append(FeedbackSource.USER)
    rows = (
        Prediction.objects.filter(model_id=model_id, actual_source__in=sources)
        .exclude(actual=None)
        .exclude(source="shadow")
        .order_by("id")
        .values_list("inputs", "sealed", "actual", "actual_source", "actual_by_id")
    )
    staff, by_user = [], defaultdict(list)
    for inputs, sealed, actual, source, giver in rows.iterator(chunk_size=5000):
        if sealed:
            inputs = sealing.unseal(inputs, sealed)
        record = {
            name: (None if inputs.get(name) == sealing.REDACTED else inputs.get(name))
            for name in features
        }
        record[target] = actual
        (staff if source == FeedbackSource.STAFF else by_user[giver]).append(record)
    cap = math.floor(settings.RETRAIN_MAX_FEEDBACK_SHARE * (train_rows + len(staff)))
    users = [record for given in by_user.values() for record in given[: max(cap, 0)]]
    whose = {
        "staff": len(staff),
        "users": len(users),
        "user_ids": sorted(g for g, given in by_user.items() if g is not None and cap > 0),
    }
    frame = pd.DataFrame.from_records([*staff, *users], columns=[*features, target])
    return frame, whose


def _better(metric: str, new: float, old: float, margin: float) -> bool:
    if metric in LOWER_IS_BETTER:
        return new < old - margin
    return new > old + margin


@jobs.job_kind(name=JobKind.RETRAIN)
def retrain_job(job: TrainingJob, progress):
    """The work of a `retrain` job: split the dataset, add trusted feedback to the training
    part, fit, score new and production on the dataset's holdout, register, gate."""
    options = job.options
    parent = ModelVersion.objects.select_related("model").get(pk=options["parent"])
    req = training_request_validate(
        dataset=job.dataset,
        model_name=job.model_name,
        algorithm=job.algorithm,
        params=job.params,
        task=job.task,
        target=job.target,
        cv=0,
        test_size=job.test_size,
        random_state=job.random_state,
        sensitive=job.sensitive,
    )
    extra, whose = _feedback(req, parent, options, progress)
    added = len(extra)
    fitted = fit(req=req, progress=progress, extra=extra)
    progress(0.88, "scoring the production version on the dataset's holdout")
    baseline = evaluate(
        pipeline=pipeline_for(version=parent),
        X_test=fitted.holdout,
        y_test=fitted.holdout_target,
        task=req.task,
        classes=fitted.classes,
    )
    baseline["n_test"] = len(fitted.holdout)
    metric, margin = MAIN_METRIC[req.task], options.get("min_improvement", 0.0)
    new, old = fitted.metrics[metric], baseline[metric]
    TrainingJob.objects.filter(pk=job.pk).update(baseline_metrics=_jsonable(baseline))
    version = register_fitted(
        req=req, fitted=fitted, user=job.created_by, progress=progress, job_id=job.pk,
        parent=parent, feedback_rows=added, feedback_from=whose,
    )  # fmt: skip
    figures = (
        f"{metric} {new:.4f} vs {old:.4f} for v{parent.version} on the dataset's holdout of "
        f"{len(fitted.holdout)} rows (no feedback); {_feedback_note(added, whose)}"
    )
    _gate(version, job=job, better=_better(metric, new, old, margin), figures=figures)
    return version


def _gate(version: ModelVersion, *, job: TrainingJob, better: bool, figures: str) -> None:
    """Production when `if_better` and better, unless non-staff feedback trained it (then a
    person decides); else staging. The reason says which and carries both figures."""
    options = job.options
    margin = options.get("min_improvement", 0.0)
    why = options.get("reason") or f"retrained ({options.get('trigger', 'requested')})"
    users = version.feedback_from.get("users")
    if options.get("promote") == "if_better" and better and not users:
        stage, gate = Stage.PRODUCTION, f"better by more than {margin:g}"
    elif options.get("promote") != "if_better":
        stage, gate = Stage.STAGING, "gate 'never'"
    elif users:
        stage, gate = (
            Stage.STAGING,
            "trained on non-staff feedback: staging until a manager promotes it",
        )
    else:
        stage, gate = Stage.STAGING, f"not better by more than {margin:g}"
    # Retraining reads the production version's dataset, all of its columns but the target:
    # the same inputs, unless production was imported with only some of them (or declared
    # them otherwise). Then its clients would be refused: a person confirms the change.
    change = stage == Stage.PRODUCTION and production_schema_change(version=version)
    if change:
        stage, gate = (
            Stage.STAGING,
            f"better by more than {margin:g}, but its inputs differ from production "
            f"v{change['production']}'s ({change['words']}): staging until a manager "
            "confirms the schema change",
        )
    registry.version_promote(
        version=version, stage=stage, user=job.created_by, reason=f"{why}: {gate}: {figures}"
    )


def _feedback(req, parent: ModelVersion, options: dict, progress) -> tuple[pd.DataFrame, dict]:
    """The feedback rows that join the training part, typed like the dataset's columns."""
    features = [c for c in req.frame.columns if c != req.target]
    if not options.get("include_feedback"):
        return pd.DataFrame(columns=[*features, req.target]), {}
    progress(0.05, "adding the logged predictions with trusted ground truth")
    n = len(req.frame)
    extra, whose = feedback_frame(
        model_id=parent.model_id,
        features=features,
        target=req.target,
        feedback_from=options.get("feedback_from", "staff"),
        train_rows=n - math.ceil(req.test_size * n),
    )
    numeric = {c: float for c in features if req.frame[c].dtype.kind in "iuf"}
    return (extra.astype(numeric) if len(extra) else extra), whose


def _feedback_note(added: int, whose: dict) -> str:
    if not whose:
        return "no feedback in training"
    return (
        f"{added} feedback rows in training ({whose['staff']} from staff, "
        f"{whose['users']} from {len(whose['user_ids'])} users)"
    )


def _jsonable(metrics: dict) -> dict:
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float, str, list, dict)) or v is None
    }
