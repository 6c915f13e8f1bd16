"""Registered models and versions: stage actions with reasons, rollback, import."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from predictor.admin.common import ask_reason, html_table
from predictor.models import Dataset, ModelVersion, RegisteredModel, Stage, StageTransition, Task
from predictor.services import registry
from predictor.services.errors import ServiceError
from predictor.services.registry import importing, sensitive, versions
from predictor.services.serving import traffic


def _stage_action(stage: str, title: str):
    def action(modeladmin, request, queryset):
        if (
            stage == Stage.PRODUCTION
            and queryset.values("model").distinct().count() != queryset.count()
        ):
            modeladmin.message_user(
                request,
                "Pick at most one version per model to promote to production.",
                messages.ERROR,
            )
            return None
        confirmed = request.POST.get("confirm_schema_change") == "on"
        response = ask_reason(
            modeladmin,
            request,
            queryset.select_related("model"),
            title=title,
            apply=lambda v, reason: registry.version_promote(
                version=v,
                stage=stage,
                user=request.user,
                reason=reason,
                confirm_schema_change=confirmed,
            ),
        )
        if response is not None and stage == Stage.PRODUCTION:
            # The same "why?" page, which also asks to confirm inputs that change.
            changes = [(v, versions.production_schema_change(version=v)) for v in queryset]
            response.template_name = "admin/predictor/promote.html"
            response.context_data["changes"] = [(v, c) for v, c in changes if c]
        return response

    action.__name__ = f"make_{stage}"
    action.short_description = title
    action.allowed_permissions = ("change",)
    return action


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ["version", "algorithm", "stage", "main_metric_display", "created_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["-version"]

    @admin.display(description="main metric")
    def main_metric_display(self, obj):
        name, value = obj.main_metric
        return f"{name} {value:.3f}" if isinstance(value, float) else "—"


SENSITIVE_HELP = (
    "Logged values of these features are encrypted (PREDICTION_LOG_KEYS) or, with no key "
    "set, not stored; everyone but staff asking for them sees ***. The list belongs to the "
    "model: every version, shadow, retrain and import follows it."
)


class ModelForm(forms.ModelForm):
    """The model's fields, and its sensitive list (changed through the service, recorded)."""

    sensitive_features = forms.MultipleChoiceField(
        label="Sensitive features",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=SENSITIVE_HELP,
    )
    sensitive_reason = forms.CharField(
        label="Why (if the sensitive features change)", required=False, max_length=2000
    )

    class Meta:
        model = RegisteredModel
        fields = ["name", "task", "description", "public"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = self.instance.pk is not None
        names = sensitive.model_features(model=self.instance) if known else []
        self.fields["sensitive_features"].choices = [(n, n) for n in names]
        self.initial["sensitive_features"] = list(self.instance.sensitive or [])


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "task", "public", "production", "version_count", "updated_at"]
    list_editable = ["public"]
    list_filter = ["task", "public"]
    search_fields = ["name", "description"]
    form = ModelForm
    fields = [
        "name",
        "task",
        "description",
        "public",
        "sensitive_features",
        "sensitive_reason",
        "sensitive_history",
        "traffic_policy",
        "promotion_history",
    ]
    readonly_fields = ["sensitive_history", "traffic_policy", "promotion_history"]
    inlines = [VersionInline]
    actions = ["rollback"]

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["name", "task", *self.readonly_fields]
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:  # a new model has no features yet: its list comes with a version
            return [f for f in self.fields if not f.startswith("sensitive")]
        return self.fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "sensitive_features" in form.cleaned_data:
            try:
                registry.model_sensitive_set(
                    model=obj,
                    sensitive=form.cleaned_data["sensitive_features"],
                    user=request.user,
                    reason=form.cleaned_data.get("sensitive_reason", ""),
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.display(description="Sensitive features: history")
    def sensitive_history(self, obj):
        if not obj or not obj.pk:
            return "—"
        rows = [
            (
                c.created_at.strftime("%Y-%m-%d %H:%M"),
                ", ".join(c.old) or "—",
                ", ".join(c.new) or "—",
                c.created_by or "—",
                c.reason,
            )
            for c in obj.sensitive_changes.select_related("created_by")
        ]
        return html_table(["when", "from", "to", "who", "why"], rows) if rows else "—"

    def get_queryset(self, request):
        from django.db.models import Count

        from predictor.selectors import models_annotated

        return models_annotated().annotate(version_count=Count("versions"))

    @admin.display(description="production version", ordering="production_version")
    def production(self, obj):
        return f"v{obj.production_version}" if obj.production_version else "—"

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj):
        return obj.version_count

    @admin.display(description="Traffic policy")
    def traffic_policy(self, obj):
        if not obj or not obj.pk:
            return "—"
        row = traffic.policy_row(model=obj)
        routes = ", ".join(f"v{r['version']} {r['weight']}%" for r in row.routes)
        shadows = ", ".join(f"v{v}" for v in row.shadows)
        text = (routes or "production only") + (f"; shadows {shadows}" if shadows else "")
        return format_html(
            '{} — <a href="{}">change it (recorded with who, when and why)</a>',
            text,
            reverse("traffic-page", args=[obj.name]),
        )

    def promotion_history(self, obj):
        if not obj or not obj.pk:
            return "—"
        rows = [
            (
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                f"v{t.version.version}",
                t.from_stage,
                t.to_stage,
                t.created_by or "—",
                t.reason,
            )
            for t in StageTransition.objects.filter(version__model=obj).select_related(
                "version", "created_by"
            )
        ]
        return html_table(["when", "version", "from", "to", "who", "why"], rows) if rows else "—"

    @admin.action(
        description="Roll back to the previous production version", permissions=["change"]
    )
    def rollback(self, request, queryset):
        return ask_reason(
            self,
            request,
            queryset,
            title="Roll back to the previous production version",
            apply=lambda m, reason: registry.version_rollback(
                model=m, user=request.user, reason=reason
            ),
        )


# --- versions -------------------------------------------------------------------------------


class ImportForm(forms.Form):
    model_name = forms.SlugField(label="Model name", max_length=100)
    task = forms.ChoiceField(choices=Task.choices)
    file = forms.FileField(
        help_text="A skops file (skops.io.dump of a fitted scikit-learn model or pipeline)."
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.all(),
        required=False,
        help_text="Optional: take the features from it and evaluate the model on it.",
    )
    target = forms.CharField(
        required=False, help_text="Target name (default: the dataset's target)."
    )
    features = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Without a dataset: one 'name:numeric' or 'name:categorical' per line, in the model's column order.",
    )
    description = forms.CharField(required=False)


class VersionForm(forms.ModelForm):
    """Notes, and which features are logged encrypted (a choice among the schema's)."""

    sensitive = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Logged values of these features are encrypted (PREDICTION_LOG_KEYS) or, "
        "with no key set, not stored; everyone but staff asking for them sees ***.",
    )

    sensitive_reason = forms.CharField(
        label="Why (if the sensitive features change)", required=False, max_length=2000
    )

    class Meta:
        model = ModelVersion
        fields = ["notes", "sensitive"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = self.instance.feature_names if self.instance and self.instance.pk else []
        self.fields["sensitive"].choices = [(n, n) for n in names]
        self.fields["sensitive"].help_text = SENSITIVE_HELP
        if self.instance and self.instance.pk:  # the model's list, which the version follows
            self.initial["sensitive"] = list(self.instance.model.sensitive or [])


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "version",
        "algorithm",
        "main_metric_display",
        "stage",
        "runtime",
        "created_at",
    ]
    list_filter = ["model", "stage", "algorithm"]
    search_fields = ["model__name", "algorithm", "notes", "sha256"]
    list_select_related = ["model"]
    ordering = ["model__name", "-version"]
    actions = [
        _stage_action(Stage.PRODUCTION, "Promote to production"),
        _stage_action(Stage.STAGING, "Promote to staging"),
        _stage_action(Stage.ARCHIVED, "Archive"),
    ]
    change_list_template = "admin/predictor/modelversion/change_list.html"
    fields = [
        "model",
        "version",
        "stage",
        "algorithm",
        "params",
        "target_name",
        "classes",
        "schema",
        "metrics_display",
        "dataset",
        "artifact",
        "artifact_format",
        "sha256",
        "size_bytes",
        "runtime",
        "runtime_note",
        "compiled_artifact",
        "compiled_sha256",
        "library_versions",
        "created_by",
        "created_at",
        "sensitive",
        "sensitive_reason",
        "notes",
        "transitions_display",
    ]
    # Everything but the notes and the sensitive features: a version is immutable, and its
    # stage moves only through the actions (the stage service), which keep the audit trail.
    readonly_fields = [f for f in fields if f not in ("notes", "sensitive", "sensitive_reason")]

    def has_add_permission(self, request):
        return False  # versions come from training or from the import page

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.predictions.exists():
            return False  # archive it instead: its predictions keep pointing at it
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="main metric")
    def main_metric_display(self, obj):
        name, value = obj.main_metric
        return f"{name} {value:.3f}" if isinstance(value, float) else "—"

    @admin.display(description="Metrics")
    def metrics_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.metrics, indent=2))

    @admin.display(description="Stage history")
    def transitions_display(self, obj):
        rows = [
            (
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                t.from_stage,
                t.to_stage,
                t.created_by or "—",
                t.reason,
            )
            for t in obj.transitions.select_related("created_by")
        ]
        return html_table(["when", "from", "to", "who", "why"], rows) if rows else "—"

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = VersionForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        chosen = form.cleaned_data["sensitive"]
        listed = list(obj.model.sensitive or [])
        # Names of the model that this version lacks stay on the model's list.
        kept = [n for n in listed if n not in obj.feature_names]
        changed = set(chosen) | set(kept) != set(listed)
        registry.version_change(
            version=obj,
            sensitive=chosen + kept if changed else None,
            notes=obj.notes,
            user=request.user,
            reason=form.cleaned_data.get("sensitive_reason", ""),
        )

    def get_urls(self):
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="predictor_modelversion_import",
            ),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra = {
            "import_url": reverse("admin:predictor_modelversion_import"),
            "can_import": request.user.has_perm("predictor.add_modelversion"),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def import_view(self, request):
        """Upload a model trained elsewhere (skops; pickle only when allowed, for superusers)."""
        if not request.user.has_perm("predictor.add_modelversion"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version, warning = importing.version_import(
                    model_name=data["model_name"],
                    task=data["task"],
                    data=data["file"].read(),
                    user=request.user,
                    target=data["target"],
                    features=data["features"],
                    dataset=data["dataset"],
                    description=data["description"],
                )
            except ServiceError as exc:
                field = exc.details.get("field")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                if warning:
                    self.message_user(request, warning, messages.WARNING)
                self.message_user(
                    request, f"Imported {version} ({version.stage}).", messages.SUCCESS
                )
                return redirect("admin:predictor_modelversion_change", version.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a model trained elsewhere",
            "form": form,
            "opts": self.model._meta,
            "pickle_allowed": settings.ALLOW_PICKLE_IMPORT and request.user.is_superuser,
        }
        return TemplateResponse(request, "admin/predictor/import.html", context)
