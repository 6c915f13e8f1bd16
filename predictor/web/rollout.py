"""Rollout pages: a model's traffic policy, and versions compared on live traffic (staff
read them; changing traffic and promoting is managers')."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from predictor import selectors
from predictor.models import Stage
from predictor.services import registry
from predictor.services.errors import InvalidInput, ServiceError
from predictor.services.monitoring import compare
from predictor.services.registry.versions import production_schema_change
from predictor.services.serving import shadow, traffic
from predictor.web.common import staff_reads_managers_write


@require_http_methods(["GET", "POST"])
@staff_reads_managers_write("rollout")
def traffic_page(request, name):
    """See (staff) and change (managers) the traffic policy; every change recorded."""
    model = selectors.model_usable(name=name, user=request.user)
    row = traffic.policy_row(model=model)
    form = {
        "routes": ", ".join(f"{r['version']}:{r['weight']}" for r in row.routes),
        "shadows": ", ".join(str(v) for v in row.shadows),
        "reason": "",
    }
    error = None
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in ("routes", "shadows", "reason")}
        try:
            traffic.policy_set(
                model=model,
                routes=traffic.routes_parse(text=form["routes"]),
                shadows=traffic.shadows_parse(text=form["shadows"]),
                reason=form["reason"],
                user=request.user,
            )
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(request, "Traffic policy saved.")
            return redirect(reverse("traffic-page", args=[name]))
    context = {
        "model": model,
        "policy": row,
        "form": form,
        "error": error,
        "changes": selectors.traffic_changes(model)[:20],
        "shadow_failures": shadow.failures_of(model=model),
        "versions": list(selectors.model_versions(model)),
    }
    return render(request, "predictor/traffic.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
@staff_reads_managers_write("rollout")
def compare_page(request, name):
    """Versions side by side, what the numbers say in words, and promotion (staff)."""
    model = selectors.model_usable(name=name, user=request.user)
    versions = list(selectors.model_versions(model))
    wanted = request.GET.get("versions") or ",".join(
        str(v.version) for v in versions if v.stage != Stage.ARCHIVED
    )
    context = {"model": model, "versions": versions, "wanted": wanted, "error": None}
    if request.method == "POST":
        number = request.POST.get("promote")
        target = next((v for v in versions if str(v.version) == number), None)
        reason = request.POST.get("reason", "").strip()
        if target is None or not reason:
            context["error"] = "choose a version and say why it is promoted"
        else:
            try:
                registry.version_promote(
                    version=target,
                    stage=Stage.PRODUCTION,
                    user=request.user,
                    reason=reason,
                    confirm_schema_change=_confirmed(request),
                )
            except ServiceError as exc:
                context["error"] = exc.message
            else:
                messages.success(request, f"Version {target.version} is now in production.")
                return redirect(reverse("compare-page", args=[name]) + f"?versions={wanted}")
    try:
        result = compare.model_report(
            model_name=name,
            user=request.user,
            versions=wanted,
            since=request.GET.get("since") or None,
            until=request.GET.get("until") or None,
        )
    except ServiceError as exc:
        context["error"] = context["error"] or exc.message
        return render(request, "predictor/compare.html", context, status=exc.status_code)
    by_number = {v.version: v for v in versions}
    for entry in result["versions"]:
        # What promoting it would change for production's clients (the form asks then).
        entry["inputs_change"] = production_schema_change(version=by_number[entry["version"]])
    context.update(
        result=result,
        sentence=compare.sentence(result=result, task=model.task),
        holdout_rows=_holdout_rows(result["versions"]),
    )
    return render(
        request, "predictor/compare.html", context, status=400 if context["error"] else 200
    )


def _confirmed(request) -> bool:
    return request.POST.get("confirm_schema_change") in ("on", "true", "1")


def _holdout_rows(entries: list[dict]) -> list[tuple[str, list]]:
    """The training record side by side: one row per figure, one column per version."""
    metrics = []
    for entry in entries:
        metrics += [k for k in entry["holdout"]["metrics"] if k not in metrics]

    def dataset(h):
        return f"{h['dataset']['name']} (#{h['dataset']['id']})" if h["dataset"] else "—"

    def cv(h):
        cv = h["cv"]
        return f"{cv['mean']:.3f} ± {cv['std']:.3f}" if cv and "mean" in cv else "—"

    def params(h):
        return ", ".join(f"{k}={v}" for k, v in sorted(h["params"].items())) or "—"

    def feats(names):
        return ", ".join(names) or "—"

    holdouts = [e["holdout"] for e in entries]
    rows = [("Algorithm", [h["algorithm"] for h in holdouts])]
    rows.append(("Dataset", [dataset(h) for h in holdouts]))
    rows.append(("Rows (train / holdout)", [f"{h['n_train']} / {h['n_test']}" for h in holdouts]))
    for name in metrics:
        values = [h["metrics"].get(name) for h in holdouts]
        rows.append((name, ["—" if v is None else f"{v:.3f}" for v in values]))
    rows.append(("CV (mean ± std)", [cv(h) for h in holdouts]))
    rows.append(("Params", [params(h) for h in holdouts]))
    first = f"v{entries[0]['version']}" if entries else ""
    rows.append((f"Features added vs {first}", [feats(e["features_added"]) for e in entries]))
    rows.append((f"Features removed vs {first}", [feats(e["features_removed"]) for e in entries]))
    return rows


@require_http_methods(["POST"])
@staff_reads_managers_write("rollout")
def promote_page(request, name):
    """Move a version to a stage, or roll back, with a reason, from the model page (managers:
    the same service and audit trail as the API and the admin)."""
    model = selectors.model_usable(name=name, user=request.user)
    reason = request.POST.get("reason", "").strip()
    back = reverse("model-page", args=[name])
    if not reason:
        messages.error(request, "Say why: a reason is required.")
        return redirect(back)
    try:
        if request.POST.get("action") == "rollback":
            version = registry.version_rollback(model=model, user=request.user, reason=reason)
            messages.success(request, f"Rolled back: version {version.version} is in production.")
        else:
            version = next(
                (
                    v
                    for v in selectors.model_versions(model)
                    if str(v.version) == request.POST.get("version")
                ),
                None,
            )
            if version is None:
                raise InvalidInput("choose a version")
            registry.version_promote(
                version=version,
                stage=request.POST.get("stage", ""),
                user=request.user,
                reason=reason,
                confirm_schema_change=_confirmed(request),
            )
            messages.success(
                request,
                f"Version {version.version} is now in {request.POST.get('stage')}"
                + (  # `model` was read before the promotion: its production version then
                    f"; version {model.production_version} moved to archived."
                    if request.POST.get("stage") == "production"
                    and model.production_version not in (None, version.version)
                    else "."
                ),
            )
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(back)
