"""Server-rendered pages: parse a form, call a service, render. No product rule lives here."""

import sys
from collections import Counter
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError
from django.db.models import Max
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from predictor import selectors
from predictor.filters import PredictionFilter
from predictor.forms import (
    MAIN_PARAMS,
    BatchForm,
    DatasetUploadForm,
    FeedbackForm,
    PredictionForm,
    TrainingForm,
)
from predictor.middleware import outage_response
from predictor.models import Dataset, ModelVersion, Source, Task, TrainingJob
from predictor.services import access, batch, explain, inference, routing, schema, training
from predictor.services.datasets import dataset_create
from predictor.services.errors import (
    Conflict,
    InvalidInput,
    LoginRequired,
    NotFound,
    ServiceError,
    VersionUnavailable,
)

API_PREFIXES = ("/api/", "/v2/", "/api")


def _error(request, status: int, message: str):
    if request.path.startswith(API_PREFIXES):
        key = "error" if request.path.startswith("/v2/") else "detail"
        return JsonResponse({key: message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def error_400(request, exception=None):
    return _error(request, 400, "Bad request.")


def error_403(request, exception=None):
    return _error(request, 403, "You do not have permission to do this.")


def error_404(request, exception=None):
    return _error(request, 404, "Not found.")


def error_500(request):
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return outage_response(request, exc)
    return _error(request, 500, "Internal error; the server log has the details.")


def staff_required(view):
    """Anonymous visitors go to the login page; logged-in non-staff get a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _strip_row(message: str) -> str:
    return message.removeprefix("row 1: ")


def _service_error_to_form(form, exc: ServiceError) -> None:
    field = exc.details.get("feature") or exc.details.get("field")
    form.add_error(field if field in form.fields else None, _strip_row(exc.message))


def home(request):
    models = selectors.models_visible_to(request.user).annotate(
        last_trained=Max("versions__created_at")
    )
    versions = {
        v.model_id: v
        for v in ModelVersion.objects.filter(model__in=models, stage="production").only(
            "model_id", "metrics", "version", "algorithm"
        )
    }
    rows = [{"model": m, "production": versions.get(m.pk)} for m in models]
    return render(request, "predictor/home.html", {"rows": rows})


def _usable_model(request, name):
    """The model (with its production number) if the user may use it; 404 / None (log in)."""
    try:
        routing.model_get(name=name, user=request.user)
    except NotFound:
        raise Http404 from None
    except LoginRequired:
        return None
    return selectors.models_with_production().get(name=name)


def _page_version(request, name, versions):
    """The version a page works with: the one asked for, production, else the newest one
    this user may be served; 404 for a version that is missing or not theirs to use."""
    wanted = request.POST.get("version") or request.GET.get("version")
    try:
        return routing.version_for(model_name=name, user=request.user, version=wanted)
    except (NotFound, InvalidInput):
        raise Http404 from None
    except Conflict:
        servable = [v for v in versions if access.version_may_serve(user=request.user, version=v)]
        return servable[0] if servable else None


@require_http_methods(["GET", "POST"])
def model_page(request, name):
    """The model, its versions, what drives it, and the prediction form."""
    model = _usable_model(request, name)
    if model is None:
        return redirect_to_login(request.get_full_path())
    versions = list(model.versions.select_related("dataset").order_by("-version"))
    version = _page_version(request, name, versions)
    form = None
    if version is not None:
        initial = schema.example_record(version.schema) if request.GET.get("example") else None
        form = PredictionForm(request.POST or None, version=version, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                record = {
                    f["name"]: schema.value_from_text(form.cleaned_data.get(f["name"]), f)
                    for f in version.schema
                }
                result = inference.predict(
                    version=version, records=[record], source=Source.WEB, user=request.user
                )
            except ServiceError as exc:
                _service_error_to_form(form, exc)
            else:
                url = reverse("prediction-page", args=[result.prediction_ids[0]])
                if not request.user.is_authenticated:
                    # Anonymous visitors may see the results of this browser session only.
                    recent = request.session.get("predictions", [])[-49:]
                    request.session["predictions"] = [*recent, result.prediction_ids[0]]
                return redirect(url)
    importance = None
    if version is not None:
        try:
            importance = explain.version_importance(version)
        except VersionUnavailable:
            importance = None
    context = {
        "model": model,
        "versions": versions,
        "version": version,
        "form": form,
        "importance": importance,
        "confusion": _confusion(version) if version and model.task == Task.CLASSIFICATION else None,
    }
    return render(
        request,
        "predictor/model.html",
        context,
        status=400 if form is not None and form.errors else 200,
    )


def _confusion(version):
    cm = version.metrics.get("confusion_matrix")
    if not cm:
        return None
    peak = max((max(row) for row in cm["matrix"]), default=1) or 1
    rows = [
        {
            "label": label,
            "cells": [{"n": n, "alpha": round(0.08 + 0.85 * n / peak, 3)} for n in row],
        }
        for label, row in zip(cm["labels"], cm["matrix"])
    ]
    return {"labels": cm["labels"], "rows": rows}


def _visible_prediction(request, pk):
    try:
        return inference.prediction_get(
            pk=pk, user=request.user, also=request.session.get("predictions", [])
        )
    except NotFound:
        raise Http404 from None


@require_http_methods(["GET", "POST"])
def prediction_page(request, pk):
    """The result: prediction, probabilities, inputs, and a 'was this right?' form."""
    prediction = _visible_prediction(request, pk)
    version = prediction.version
    form = FeedbackForm(request.POST or None, version=version)
    if request.method == "POST" and form.is_valid():
        actual = form.cleaned_data["actual"]
        try:
            if version.model.task == Task.REGRESSION:
                # Form text to a number; the service checks it (and matches class names).
                actual = schema.value_from_text(actual, {"name": "actual", "type": "numeric"})
            inference.prediction_feedback(prediction=prediction, actual=actual)
        except ServiceError as exc:
            form.add_error("actual", _strip_row(exc.message))
        else:
            return redirect(reverse("prediction-page", args=[pk]) + "?thanks=1")
    probabilities = None
    if prediction.probabilities:
        probabilities = sorted(
            ({"label": k, "value": v, "pct": 100 * v} for k, v in prediction.probabilities.items()),
            key=lambda p: -p["value"],
        )
    context = {
        "p": prediction,
        "output": f"{prediction.output:.6g}"
        if isinstance(prediction.output, float)
        else prediction.output,
        "version": version,
        "probabilities": probabilities,
        "inputs": [(f["name"], prediction.inputs.get(f["name"])) for f in version.schema],
        "form": form,
        "thanks": request.GET.get("thanks"),
    }
    return render(request, "predictor/prediction.html", context, status=400 if form.errors else 200)


def history(request):
    """Prediction history with filters and charts (staff see everybody's)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    base = selectors.predictions_visible_to(request.user).order_by("-created_at", "-id")
    filters = PredictionFilter(request.GET or None, queryset=base)
    qs = filters.qs if filters.is_bound and filters.is_valid() else base
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "charts": selectors.prediction_charts(qs),
        "query": query.urlencode(),
        "models": selectors.models_visible_to(request.user).values_list("name", flat=True),
        "sources": Source.choices,
    }
    return render(request, "predictor/history.html", context, status=400 if filters.errors else 200)


@require_http_methods(["GET", "POST"])
def batch_page(request, name):
    """Upload a CSV of feature rows; get a summary and the scored CSV."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    model = _usable_model(request, name)  # 404 if missing; logged-in users may use any model
    try:
        version = routing.version_for(
            model_name=name,
            user=request.user,
            version=request.POST.get("version") or request.GET.get("version"),
        )
    except (NotFound, InvalidInput):
        raise Http404 from None
    except ServiceError as exc:
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": exc.message},
            status=exc.status_code,
        )
    form = BatchForm(request.POST or None, request.FILES or None)
    result = errors = None
    if request.method == "POST" and form.is_valid():
        try:
            result = batch.batch_predict_csv(
                version=version, data=form.cleaned_data["file"].read(), user=request.user
            )
        except ServiceError as exc:
            form.add_error(
                "file",
                exc.message if not exc.details.get("errors") else exc.message.split(": ", 1)[0],
            )
            errors = exc.details.get("errors")
    summary = None
    if result is not None:
        counts = Counter(map(str, result.predictions)).most_common(10)
        summary = {
            "rows": len(result.predictions),
            "request_id": result.request_id,
            "counts": counts,
            "numeric": model.task == Task.REGRESSION,
        }
        if summary["numeric"]:
            values = [float(v) for v in result.predictions]
            summary.update(min=min(values), max=max(values), mean=sum(values) / len(values))
    context = {
        "model": model,
        "version": version,
        "form": form,
        "summary": summary,
        "errors": errors,
        "warnings": result.warnings[:20] if result else None,
    }
    return render(request, "predictor/batch.html", context, status=400 if form.errors else 200)


def batch_download(request, request_id):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        text = batch.batch_result_csv(request_id=request_id, user=request.user)
    except InvalidInput:
        raise Http404 from None
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="predictions-{request_id[:12]}.csv"'
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def train_page(request):
    """Upload a dataset or pick one, then start a training job."""
    upload = DatasetUploadForm(prefix="upload")
    dataset = None
    dataset_id = request.POST.get("dataset") or request.GET.get("dataset")
    if dataset_id and str(dataset_id).isdigit():
        dataset = Dataset.objects.filter(pk=dataset_id).first()
    dataset = dataset or Dataset.objects.first()
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
                    model_name=data["model"],
                    algorithm=data["algorithm"],
                    target=data["target"],
                    params=form.params(),
                    test_size=data["test_size"],
                    cv=data["cv"],
                    user=request.user,
                )
            except ServiceError as exc:
                _service_error_to_form(form, exc)
            else:
                return redirect("job-page", pk=job.pk)
    context = {
        "form": form,
        "upload": upload,
        "dataset": dataset,
        "main_params": MAIN_PARAMS,
        "datasets": Dataset.objects.all(),
    }
    status = 400 if (form.is_bound and form.errors) or (upload.is_bound and upload.errors) else 200
    return render(request, "predictor/train.html", context, status=status)


@staff_required
def job_page(request, pk):
    job = get_object_or_404(
        TrainingJob.objects.select_related("version", "version__model", "dataset"), pk=pk
    )
    metrics = [
        (k, v)
        for k, v in (job.version.metrics if job.version else {}).items()
        if isinstance(v, float)
    ]
    return render(request, "predictor/job.html", {"job": job, "metrics": metrics})
