"""Training as a job: validate and queue a request; the runner fits it into a new version."""

from predictor.models import Dataset, JobKind, TrainingJob
from predictor.services import access, jobs, registry
from predictor.services.registry import artifacts
from predictor.services.schema import records_from_frame
from predictor.services.serving.compiled.build import compile_pipeline
from predictor.services.training.fit import fit
from predictor.services.training.validate import CleanRequest, training_request_validate

# The fields of a training request that a job row keeps, by the same names.
REQUEST_FIELDS = (
    "model_name",
    "task",
    "target",
    "algorithm",
    "params",
    "search_space",
    "test_size",
    "cv",
    "random_state",
    "sensitive",
)


def train_version(*, req: CleanRequest, user=None, progress=None, job_id=None, **lineage):
    """Fit, store the artifact, and register the new version — only if the job still runs
    then (else its files are removed and nothing is registered)."""
    progress = progress or (lambda value, message: None)
    fitted = fit(req=req, progress=progress)
    return register_fitted(
        req=req, fitted=fitted, user=user, progress=progress, job_id=job_id, **lineage
    )


def register_fitted(*, req: CleanRequest, fitted, user, progress, job_id=None, **extra):
    """Compile, store and register a fitted pipeline as the model's next version."""
    progress(0.9, "compiling and verifying the ONNX runtime")
    compiled = compile_pipeline(
        pipeline=fitted.pipeline,
        schema=fitted.schema,
        task=req.task,
        classes=fitted.classes,
        rows=records_from_frame(X=fitted.holdout, schema=fitted.schema),
    )
    progress(0.95, "saving the artifact")
    stored = artifacts.artifact_save(obj=fitted.pipeline)
    try:
        with jobs.job_commit_guard(job_id):
            model = registry.model_get_or_create(name=req.model_name, task=req.task)
            return registry.version_create(
                model=model,
                stored=stored,
                user=user,
                algorithm=req.algorithm,
                params=fitted.params,
                schema=fitted.schema,
                target_name=req.target,
                classes=fitted.classes,
                metrics=fitted.metrics,
                dataset=req.dataset,
                reference_stats=fitted.reference_stats,
                sensitive=req.sensitive,
                **compiled,
                **extra,
            )
    except jobs.JobStopped:
        artifacts.artifact_discard(names=[stored.name, compiled.get("compiled_artifact")])
        raise


def job_create(*, dataset: Dataset, user=None, **request) -> TrainingJob:
    """Validate a training request, record it as a queued job and hand it to the runner
    (TooManyJobs when the user already has their cap of jobs)."""
    jobs.jobs_check_cap(user=user)
    req = training_request_validate(dataset=dataset, **request)
    options = {"exclude": list(req.excluded)}
    if req.excluded:
        options["left_out"] = req.left_out
    job = TrainingJob.objects.create(
        kind=JobKind.TRAIN,
        dataset=dataset,
        created_by=access.actor(user=user),
        options=options,
        message=_with_left_out("queued", req),
        **{name: getattr(req, name) for name in REQUEST_FIELDS},
    )
    jobs.job_enqueue(job=job)
    job.refresh_from_db()
    return job


@jobs.job_kind(name=JobKind.TRAIN)
def train_job(job: TrainingJob, progress):
    """The work of a `train` job: validate its request again (the data may have changed)
    and fit it into a new version."""
    request = {name: getattr(job, name) for name in REQUEST_FIELDS}
    req = training_request_validate(
        dataset=job.dataset,
        **{**request, "task": job.task or None, "target": job.target or None},
        exclude=(job.options or {}).get("exclude"),
    )
    return train_version(
        req=req,
        user=job.created_by,
        progress=lambda value, message: progress(value, _with_left_out(message, req)),
        job_id=job.pk,
    )


def _with_left_out(message: str, req: CleanRequest) -> str:
    """A job's step, and the columns it leaves out of the features (the field holds 200)."""
    if not req.excluded:
        return message
    return f"{message} · left out: {req.left_out}"[:200]


def train_now(*, dataset: Dataset, user=None, **request) -> TrainingJob:
    """Train synchronously (commands, the demo): returns the ended job."""
    with jobs.eager():
        job = job_create(dataset=dataset, user=user, **request)
    job.refresh_from_db()
    return job
