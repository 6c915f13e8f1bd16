"""Retraining: the production version's dataset plus the model's logged predictions with
ground truth, scored against production on one holdout, and a gate that decides promotion.

A `retrain` job (the runner's kind) trains with the production version's algorithm (or the
one asked for) on its dataset, adding — with `include_feedback` — every logged prediction
of the model that has an `actual` (its inputs as features, the truth as target; shadow rows
left out, sensitive values decrypted when a key is set, else missing). The new version and
the current production version are scored on the same holdout; both figures go on the job
(`metrics` of the version, `baseline_metrics`). Gate `if_better`: production when the main
metric beats production's by more than `min_improvement`, with both figures in the reason;
otherwise (and with gate `never`) the new version goes to `staging`. The version records
its parent and how many feedback rows it learnt from.
"""

import numpy as np
import pandas as pd

from predictor.models import ModelVersion, Prediction, RegisteredModel, Stage, TrainingJob
from predictor.services import jobs, registry
from predictor.services.access import is_authenticated
from predictor.services.errors import Conflict, InvalidInput
from predictor.services.log import sealing
from predictor.services.serving.runtime import pipeline_for
from predictor.services.training.algorithms import MAIN_METRIC
from predictor.services.training.evaluate import evaluate
from predictor.services.training.fit import fit
from predictor.services.training.run import register_fitted
from predictor.services.training.validate import training_request_validate

GATES = ("never", "if_better")
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
        sensitive=list(parent.sensitive),
    )
    req = training_request_validate(dataset=parent.dataset, **request)
    job = TrainingJob.objects.create(
        kind="retrain",
        dataset=parent.dataset,
        created_by=user if is_authenticated(user) else None,
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
            "promote": promote,
            "min_improvement": min_improvement,
            "reason": (reason or "").strip()[:500],
            "trigger": trigger,
        },
    )
    jobs.job_enqueue(job, capped=capped)
    job.refresh_from_db()
    return job


def feedback_frame(model_id: int, features: list[str], target: str) -> pd.DataFrame:
    """The model's logged predictions with ground truth, as training rows."""
    rows = (
        Prediction.objects.filter(model_id=model_id)
        .exclude(actual=None)
        .exclude(source="shadow")
        .values_list("inputs", "sealed", "actual")
    )
    records = []
    for inputs, sealed, actual in rows.iterator(chunk_size=5000):
        if sealed:
            inputs = sealing.unseal(inputs, sealed)
        record = {
            name: (None if inputs.get(name) == sealing.REDACTED else inputs.get(name))
            for name in features
        }
        record[target] = actual
        records.append(record)
    return pd.DataFrame.from_records(records, columns=[*features, target])


def _better(metric: str, new: float, old: float, margin: float) -> bool:
    if metric in LOWER_IS_BETTER:
        return new < old - margin
    return new > old + margin


@jobs.job_kind("retrain")
def retrain_job(job: TrainingJob, progress):
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
    added = 0
    if options.get("include_feedback"):
        progress(0.05, "adding the logged predictions with ground truth")
        features = [c for c in req.frame.columns if c != req.target]
        extra = feedback_frame(parent.model_id, features, req.target)
        added = len(extra)
        if added:
            extra = extra.astype(
                {
                    c: req.frame[c].dtype
                    for c in features
                    if c in extra and req.frame[c].dtype.kind == "f"
                }
            )
            req.frame = pd.concat([req.frame, extra], ignore_index=True)
    fitted = fit(req, progress)
    progress(0.88, "scoring the production version on the same holdout")
    baseline = evaluate(
        pipeline_for(parent), fitted.holdout, fitted.holdout_target, req.task, fitted.classes
    )
    metric = MAIN_METRIC[req.task]
    new, old = fitted.metrics[metric], baseline[metric]
    TrainingJob.objects.filter(pk=job.pk).update(baseline_metrics=_jsonable(baseline))
    version = register_fitted(
        req, fitted, user=job.created_by, progress=progress, job_id=job.pk,
        parent=parent, feedback_rows=added,
    )  # fmt: skip
    margin = options.get("min_improvement", 0.0)
    figures = (
        f"{metric} {new:.4f} vs {old:.4f} for v{parent.version} on the same holdout of "
        f"{len(fitted.holdout)} rows ({added} feedback rows added)"
    )
    why = options.get("reason") or f"retrained ({options.get('trigger', 'requested')})"
    if options.get("promote") == "if_better" and _better(metric, new, old, margin):
        registry.version_promote(
            version=version,
            stage=Stage.PRODUCTION,
            user=job.created_by,
            reason=f"{why}: better by more than {margin:g}: {figures}",
        )
    else:
        gate = (
            "gate 'never'"
            if options.get("promote") != "if_better"
            else f"not better by more than {margin:g}"
        )
        registry.version_promote(
            version=version,
            stage=Stage.STAGING,
            user=job.created_by,
            reason=f"{why}: {gate}: {figures}",
        )
    return version


def _jsonable(metrics: dict) -> dict:
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float, str, list, dict)) or v is None
    }
