"""The models a visitor may use, and a model's page with its prediction form."""

from django.contrib.auth.views import redirect_to_login
from django.db.models import Max
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from predictor import selectors
from predictor.models import Source, Task
from predictor.services import access, schema
from predictor.services.errors import ServiceError, VersionUnavailable
from predictor.services.monitoring import alerts
from predictor.services.serving import explain, inference, routing, traffic
from predictor.services.training import policies
from predictor.web.common import page_version, service_error_to_form, usable_model
from predictor.web.forms import PredictionForm
from predictor.web.timing import prediction_timed


def home(request):
    models = selectors.models_visible_to(request.user).annotate(
        last_trained=Max("versions__created_at")
    )
    versions = selectors.production_versions(models)
    # Monitoring status is for staff only: the worker's last pass, or computed now for a
    # version with traffic whose status is missing or stale.
    states = (
        alerts.states_current(versions=versions.values())
        if access.is_staff(user=request.user)
        else {}
    )
    rows = [
        {
            "model": m,
            "production": versions.get(m.pk),
            "status": states.get(versions[m.pk].pk) if m.pk in versions else None,
        }
        for m in models
    ]
    return render(request, "predictor/home.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@prediction_timed(Source.WEB, methods=("POST",))
def model_page(request, name):
    """The model, its versions, what drives it, and the prediction form."""
    model = usable_model(request, name)
    if model is None:
        return redirect_to_login(request.get_full_path())
    versions = list(model.versions.select_related("dataset").order_by("-version"))
    version = page_version(request, name, versions)
    explicit = bool(request.POST.get("version") or request.GET.get("version"))
    shadows = ()
    if request.method == "POST" and version is not None and not explicit:
        # The form names no version: the traffic policy picks one (by user, else random).
        try:
            route = routing.route(model_name=name, user=request.user)
            version, shadows = route.version, route.shadows
        except ServiceError:
            pass  # no production version: the page's own choice stands
    form = None
    if version is not None:
        shown = access.version_schema_shown(version=version, user=request.user)
        initial = schema.example_record(schema=shown) if request.GET.get("example") else None
        form = PredictionForm(request.POST or None, version=version, initial=initial, schema=shown)
        record = _record(form, version) if request.method == "POST" and form.is_valid() else None
        if record is not None:
            try:
                result = inference.predict(
                    version=version,
                    records=[record],
                    source=Source.WEB,
                    user=request.user,
                    shadows=shadows,
                )
            except ServiceError as exc:
                service_error_to_form(form, exc)
            else:
                url = reverse("prediction-page", args=[result.prediction_ids[0]])
                if not request.user.is_authenticated:
                    # Anonymous visitors may see the results of this browser session only.
                    recent = request.session.get("predictions", [])[-49:]
                    request.session["predictions"] = [*recent, result.prediction_ids[0]]
                return redirect(url)
    importance = unavailable = None
    if version is not None:
        try:
            importance = explain.version_importance(version=version)
        except VersionUnavailable as exc:
            # Say so instead of offering a form that can only fail.
            unavailable, form = exc.message, None
    context = {
        "model": model,
        "versions": versions,
        "version": version,
        # For non-staff, no training figure of a sensitive feature.
        "schema": access.version_schema_shown(version=version, user=request.user)
        if version
        else [],
        "explicit_version": explicit,
        "traffic_policy": traffic.policy_row(model=model)
        if access.is_staff(user=request.user)
        else None,
        "retrain_policy": policies.policy_get(model=model)
        if access.is_staff(user=request.user)
        else None,
        "form": form,
        "importance": importance,
        "unavailable": unavailable,
        "confusion": _confusion(version) if version and model.task == Task.CLASSIFICATION else None,
    }
    return render(
        request,
        "predictor/model.html",
        context,
        status=400 if form is not None and form.errors else 200,
    )


def _record(form, version) -> dict | None:
    """The form's values as the model's inputs; every field that is wrong gets its own
    error, all at once (None then)."""
    record = {}
    for feature in version.schema:
        try:
            record[feature["name"]] = schema.value_from_text(
                form.cleaned_data.get(feature["name"]), feature
            )
        except ServiceError as exc:
            service_error_to_form(form, exc)
    return None if form.errors else record


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
