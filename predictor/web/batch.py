"""Batch scoring: a CSV of feature rows in, a summary and the scored CSV out."""

from collections import Counter

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from predictor.models import Source, Task, TrainingJob
from predictor.services.errors import InvalidInput, NotFound, ServiceError
from predictor.services.serving import routing, scoring
from predictor.web.common import usable_model
from predictor.web.forms import BatchForm
from predictor.web.timing import prediction_timed


@require_http_methods(["GET", "POST"])
@prediction_timed(Source.BATCH, methods=("POST",))
def batch_page(request, name):
    """Upload a CSV of feature rows; get a summary and the scored CSV."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    model = usable_model(request, name)  # 404 if missing; logged-in users may use any model
    try:
        # A file that names no version follows the traffic policy as a whole (one key).
        route = routing.route(
            model_name=name,
            user=request.user,
            version=request.POST.get("version") or request.GET.get("version"),
        )
        version = route.version
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
            result = scoring.batch_predict_csv(
                version=version,
                data=form.cleaned_data["file"].read(),
                user=request.user,
                shadows=route.shadows,
            )
        except ServiceError as exc:
            form.add_error(
                "file",
                exc.message if not exc.details.get("errors") else exc.message.split(": ", 1)[0],
            )
            errors = exc.details.get("errors")
    if isinstance(result, TrainingJob):  # a large file: scored as a job, followed on its page
        messages.info(request, f"{result.options['rows']} rows: scoring them as job {result.pk}.")
        return redirect("job-page", pk=result.pk)
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
        "warnings": _warnings(result) if result else None,
    }
    return render(request, "predictor/batch.html", context, status=400 if form.errors else 200)


def batch_download(request, request_id):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        text = scoring.batch_result_csv(request_id=request_id, user=request.user)
    except InvalidInput:
        raise Http404 from None
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="predictions-{request_id[:12]}.csv"'
    return response


def _warnings(result) -> list[str]:
    """Unseen categories and values far outside the training range, in words (20 at most)."""
    far = [
        f"row {i}: {w['feature']} = {w['value']:g} is far outside the training range "
        f"{w['min']:g} to {w['max']:g}"
        for i, row in enumerate(result.warnings, start=1)
        for w in row
    ]
    return (result.notes + far)[:20]
