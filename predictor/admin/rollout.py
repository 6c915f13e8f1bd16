"""Traffic policies in the admin: set through the traffic service (validated, recorded with
who, when, why, before and after); the changes themselves are read-only (admin/log.py)."""

from django import forms
from django.contrib import admin

from predictor.admin.common import ReadOnlyAdmin
from predictor.models import TrafficPolicy
from predictor.models.operations import ShadowFailure
from predictor.services.errors import ServiceError
from predictor.services.serving import traffic


class TrafficPolicyForm(forms.ModelForm):
    routes_text = forms.CharField(
        label="Routes",
        required=False,
        help_text="version:weight, weights summing to 100, e.g. 2:90, 3:10 (blank: production only)",
    )
    shadows_text = forms.CharField(label="Shadow versions", required=False, help_text="e.g. 4")
    why = forms.CharField(label="Why", help_text="Recorded with the change.")

    class Meta:
        model = TrafficPolicy
        fields = ["model"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["model"].disabled = True
            self.initial["routes_text"] = ", ".join(
                f"{r['version']}:{r['weight']}" for r in self.instance.routes
            )
            self.initial["shadows_text"] = ", ".join(str(v) for v in self.instance.shadows)

    def clean(self):
        data = super().clean()
        model = self.instance.model if self.instance.pk else data.get("model")
        try:
            data["routes"] = traffic.routes_parse(text=data.get("routes_text", ""))
            data["shadows"] = traffic.shadows_parse(text=data.get("shadows_text", ""))
            if model is not None:
                traffic.policy_check(model=model, routes=data["routes"], shadows=data["shadows"])
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from None
        return data


@admin.register(TrafficPolicy)
class TrafficPolicyAdmin(admin.ModelAdmin):
    form = TrafficPolicyForm
    list_display = ["model", "routes", "shadows", "updated_by", "updated_at", "reason"]
    list_select_related = ["model", "updated_by"]

    def has_delete_permission(self, request, obj=None):
        return False  # empty routes mean "production only"; the change is then recorded

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = traffic.policy_set(
            model=obj.model if change else data["model"],
            routes=data["routes"],
            shadows=data["shadows"],
            reason=data["why"],
            user=request.user,
        )
        obj.pk = saved.pk


@admin.register(ShadowFailure)
class ShadowFailureAdmin(ReadOnlyAdmin):
    """Shadow versions that failed: how often, the last error (kept by the shadow service)."""

    list_display = ["version", "count", "last_error", "last_at"]
    list_select_related = ["version__model"]
    ordering = ["-last_at"]
