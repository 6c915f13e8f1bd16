"""A prediction's result page (with "was this right?"), and the history of predictions."""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from predictor import selectors
from predictor.filters import PredictionFilter
from predictor.models import Source, Task
from predictor.services import access, schema
from predictor.services.errors import NotFound, ServiceError
from predictor.services.log import history as history_log
from predictor.services.log import sealing
from predictor.services.serving import inference
from predictor.web import charts
from predictor.web.common import strip_row
from predictor.web.forms import FeedbackForm

HISTORY_PAGE_SIZE = 25


def _visible_prediction(request, pk):
    try:
        return selectors.prediction_get(
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
            inference.prediction_feedback(prediction=prediction, actual=actual, user=request.user)
        except ServiceError as exc:
            form.add_error("actual", strip_row(exc.message))
        else:
            return redirect(reverse("prediction-page", args=[pk]) + "?thanks=1")
    inputs = prediction.inputs
    if request.GET.get("decrypt") == "true" and access.may_decrypt(user=request.user):
        inputs = sealing.unseal(inputs, prediction.sealed)
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
        "inputs": [(f["name"], inputs.get(f["name"])) for f in version.schema],
        # Every input blank: the answer is the model's guess from its training data alone.
        "all_blank": len(version.schema)
        if version.schema and all(inputs.get(f["name"]) is None for f in version.schema)
        else 0,
        "far": schema.out_of_range(version.schema, inputs),
        "form": form,
        "thanks": request.GET.get("thanks"),
    }
    return render(request, "predictor/prediction.html", context, status=400 if form.errors else 200)


def history(request):
    """Prediction history with filters and charts (staff see everybody's), by cursor."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    base = selectors.predictions_visible_to(request.user)
    filters = PredictionFilter(request.GET or None, queryset=base)
    valid = not filters.is_bound or filters.is_valid()
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "filters": filters,
        "query": query.urlencode(),
        "models": selectors.models_visible_to(request.user).values_list("name", flat=True),
        "sources": Source.choices,
        "page": None,
    }
    if filters.is_bound:
        named = filters.form.cleaned_data.get("model")
        if named and named not in context["models"]:
            filters.errors["model"] = [f"No model named {named!r}."]
            valid = False
    if valid:
        # A bad filter shows its error and no rows: never the unfiltered list.
        try:
            context["page"] = history_log.page(
                queryset=filters.qs if filters.is_bound else base,
                cursor=request.GET.get("cursor"),
                size=HISTORY_PAGE_SIZE,
            )
        except ServiceError as exc:
            filters.errors["cursor"] = [exc.message]
            valid = False
        else:
            cleaned = filters.form.cleaned_data if filters.is_bound else {}
            context["charts"] = charts.history_charts(
                selectors.prediction_charts(request.user, cleaned)
            )
    return render(request, "predictor/history.html", context, status=200 if valid else 400)
