"""Training pages: upload or pick a dataset, start a job (managers), follow it (staff)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from predictor import selectors
from predictor.services import access, jobs, training
from predictor.services.errors import ServiceError
from predictor.services.registry.datasets import dataset_create, dataset_look
from predictor.services.registry.versions import production_schema_change
from predictor.web.common import manager_required, page_check, service_error_to_form
from predictor.web.forms import MAIN_PARAMS, DatasetUploadForm, TrainingForm


@manager_required
@require_http_methods(["GET", "POST"])
def train_page(request):
    """Upload a dataset or pick one, then start a training job."""
    upload = DatasetUploadForm(prefix="upload")
    dataset = None
    dataset_id = request.POST.get("dataset") or request.GET.get("dataset")
    if dataset_id and str(dataset_id).isdigit():
        dataset = selectors.datasets().filter(pk=dataset_id).first()
    dataset = dataset or selectors.datasets().first()
    form = TrainingForm(dataset=dataset, initial={"dataset": dataset})
    if request.method == "POST" and "upload-name" in request.POST:
        upload = DatasetUploadForm(request.POST, request.FILES, prefix="upload")
        if upload.is_valid():
            data = upload.cleaned_data
            try:
                created = dataset_create(
                    name=data["name"],
                    file=data["file"],
                    target=data["target"] or None,
                    description=data["description"],
                    user=request.user,
                )
            except ServiceError as exc:
                field = exc.details.get("field")
                upload.add_error(field if field in upload.fields else "file", exc.message)
            else:
                return redirect(reverse("train-page") + f"?dataset={created.pk}")
    elif request.method == "POST":
        form = TrainingForm(request.POST, dataset=dataset)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = training.job_create(
                    dataset=data["dataset"],
                    model_name=data["model"] or None,
                    algorithm=data["algorithm"],
                    target=data["target"],
                    params=form.params(),
                    test_size=data["test_size"],
                    cv=data["cv"],
                    exclude=form.exclude(),
                    user=request.user,
                )
            except ServiceError as exc:
                if exc.details.get("field") == "exclude":
                    form.add_error("features", exc.message)
                else:
                    service_error_to_form(form, exc)
            else:
                return redirect("job-page", pk=job.pk)
    context = {
        "form": form,
        "upload": upload,
        "dataset": dataset,
        "look": _look(dataset),
        "main_params": MAIN_PARAMS,
        "datasets": selectors.datasets(),
    }
    status = 400 if (form.is_bound and form.errors) or (upload.is_bound and upload.errors) else 200
    return render(request, "predictor/train.html", context, status=status)


def _look(dataset):
    """The dataset's profile, first rows and class balance; None when its file is unreadable
    (the page still offers the other datasets)."""
    if dataset is None:
        return None
    try:
        return dataset_look(dataset=dataset)
    except ServiceError:
        return None


def job_page(request, pk):
    """A job's progress and result (staff; a person also sees their own batch jobs)."""
    job = selectors.training_jobs().filter(pk=pk).first()
    refused = page_check(request, access.job_check_see, job=job)
    if refused:
        return refused
    if job is None:
        raise Http404("no such job")
    if request.method == "POST" and request.POST.get("cancel"):
        refused = page_check(request, access.job_check_cancel, job=job)
        if refused:
            return refused
        try:
            jobs.job_cancel(job=job, user=request.user)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Job {job.pk} cancelled.")
        return redirect("job-page", pk=job.pk)
    metrics = [
        (k, v)
        for k, v in (job.version.metrics if job.version else {}).items()
        if isinstance(v, float)
    ]
    context = {"job": job, "metrics": metrics, "duration": job_duration(job)}
    if job.version is not None:
        production = selectors.production_versions([job.version.model]).get(job.version.model_id)
        if production is not None and production.pk != job.version.pk:
            context["production"] = production
            context["can_manage"] = access.is_manager(user=request.user)
            context["schema_change"] = production_schema_change(version=job.version)
    return render(request, "predictor/job.html", context)


def job_duration(job, *, now=None) -> str:
    """How long the job ran ("2 min 5 s"), or has been running ("running for 12 s")."""
    if job.started_at is None:
        return ""
    end = job.finished_at or now or timezone.now()
    seconds = max(0, round((end - job.started_at).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    text = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return text if job.finished_at else f"running for {text}"


@login_required
def jobs_page(request):
    """Jobs, newest first: every job for staff, a person's own batch-scoring jobs otherwise."""
    page = Paginator(selectors.jobs_seen(user=request.user), 50).get_page(request.GET.get("page"))
    rows = [(job, job_duration(job)) for job in page]
    return render(request, "predictor/jobs.html", {"page": page, "rows": rows})
