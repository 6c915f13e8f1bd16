"""The management console. Declarative; every change of state goes through a service."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from predictor.models import (
    Dataset,
    ModelVersion,
    Prediction,
    RegisteredModel,
    Stage,
    StageTransition,
    Task,
    TrainingJob,
)
from predictor.services import datasets, importing, registry, training
from predictor.services.errors import ServiceError

admin.site.site_header = "mlsite model management"
admin.site.site_title = "mlsite admin"


def _table(headers, rows):
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


# --- datasets -------------------------------------------------------------------------------


class DatasetUploadForm(forms.ModelForm):
    file = forms.FileField(label="CSV file")
    target = forms.CharField(required=False, help_text="Target column; blank for the last one.")

    class Meta:
        model = Dataset
        fields = ["name", "description", "file", "target"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            # The same checks as the API and the training page, before anything is stored.
            datasets.dataset_check(name=data["name"], file=data["file"], target=data.get("target"))
        except ServiceError as exc:
            field = exc.details.get("field")
            raise forms.ValidationError({field if field in self.fields else "file": exc.message})
        return data

    def validate_unique(self):
        pass  # dataset_check reports a taken name in its own words


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "row_count", "target", "column_count", "created_by", "created_at"]
    search_fields = ["name", "description"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "description",
        "target",
        "row_count",
        "sha256",
        "size_bytes",
        "created_by",
        "created_at",
        "column_types",
        "preview",
    ]
    # A dataset's file and what was inferred from it never change; only its description.
    readonly_fields = [f for f in fields if f != "description"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DatasetUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name", "description", "file", "target"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="columns")
    def column_count(self, obj):
        return len(obj.columns)

    @admin.display(description="Inferred column types")
    def column_types(self, obj):
        rows = []
        for c in obj.columns:
            if c["type"] == "numeric":
                summary = f"{c.get('min')} to {c.get('max')}, mean {c.get('mean') or 0:.4g}"
            else:
                summary = ", ".join(c.get("categories", [])[:8])
            rows.append((c["name"], c["type"], f"{c['missing']:.1%}", summary))
        return _table(["column", "type", "missing", "values"], rows)

    @admin.display(description="First rows")
    def preview(self, obj):
        try:
            rows = datasets.dataset_preview(obj, rows=10)
        except ServiceError as exc:
            return exc.message
        headers = obj.column_names
        return _table(headers, [["" if r[h] is None else r[h] for h in headers] for r in rows])

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["description"])
            return
        created = datasets.dataset_create(
            name=form.cleaned_data["name"],
            file=form.cleaned_data["file"],
            target=form.cleaned_data.get("target"),
            description=form.cleaned_data.get("description", ""),
            user=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()


# --- stage actions --------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)


def _ask_reason(modeladmin, request, queryset, *, title, apply):
    """An intermediate page asking why; on submit, `apply(obj, reason)` for each object."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    apply(obj, form.cleaned_data["reason"])
                    done += 1
                except ServiceError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{title}: {done} done.", messages.SUCCESS)
            return None
    else:
        form = ReasonForm()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "form": form,
        "action": request.POST.get("action"),
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/predictor/reason.html", context)


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
        return _ask_reason(
            modeladmin,
            request,
            queryset.select_related("model"),
            title=title,
            apply=lambda v, reason: registry.version_promote(
                version=v, stage=stage, user=request.user, reason=reason
            ),
        )

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


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "task", "public", "production", "version_count", "updated_at"]
    list_editable = ["public"]
    list_filter = ["task", "public"]
    search_fields = ["name", "description"]
    fields = ["name", "task", "description", "public", "promotion_history"]
    readonly_fields = ["promotion_history"]
    inlines = [VersionInline]
    actions = ["rollback"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", "task", "promotion_history"] if obj else ["promotion_history"]

    def get_queryset(self, request):
        from django.db.models import Count

        from predictor.selectors import models_with_production

        return models_with_production().annotate(version_count=Count("versions"))

    @admin.display(description="production version", ordering="production_version")
    def production(self, obj):
        return f"v{obj.production_version}" if obj.production_version else "—"

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj):
        return obj.version_count

    @admin.display(description="Promotion history")
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
        return _table(["when", "version", "from", "to", "who", "why"], rows) if rows else "—"

    @admin.action(
        description="Roll back to the previous production version", permissions=["change"]
    )
    def rollback(self, request, queryset):
        return _ask_reason(
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


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["model", "version", "algorithm", "main_metric_display", "stage", "created_at"]
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
        "library_versions",
        "created_by",
        "created_at",
        "notes",
        "transitions_display",
    ]
    # Everything but the notes: a version is immutable, and its stage moves only through
    # the actions (the stage service), which keep the audit trail.
    readonly_fields = [f for f in fields if f != "notes"]

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
        return _table(["when", "from", "to", "who", "why"], rows) if rows else "—"

    def save_model(self, request, obj, form, change):
        obj.save(update_fields=["notes"])

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


# --- jobs, transitions, predictions ---------------------------------------------------------


class TrainingJobForm(forms.ModelForm):
    params = forms.JSONField(required=False, initial=dict, help_text='e.g. {"n_estimators": 200}')
    search_space = forms.JSONField(
        required=False, help_text='optional, e.g. {"max_depth": [3, 5, null]}'
    )

    class Meta:
        model = TrainingJob
        fields = [
            "dataset",
            "model_name",
            "algorithm",
            "target",
            "task",
            "params",
            "search_space",
            "test_size",
            "cv",
            "random_state",
        ]
        widgets = {"algorithm": forms.Select(choices=[(a, a) for a in training.ALGORITHMS])}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            training.training_request_validate(**self.request_kwargs())
        except ServiceError as exc:
            field = exc.details.get("field")
            field = {"model": "model_name"}.get(field, field)
            raise forms.ValidationError({field if field in self.fields else "__all__": exc.message})
        return data

    def request_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "dataset": d["dataset"],
            "model_name": d["model_name"],
            "algorithm": d["algorithm"],
            "params": d.get("params") or {},
            "search_space": d.get("search_space") or None,
            "test_size": d["test_size"],
            "cv": d["cv"],
            "random_state": d.get("random_state"),
            "task": d.get("task") or None,
            "target": d.get("target") or None,
        }


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "model_name",
        "algorithm",
        "dataset",
        "status",
        "progress_display",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "algorithm"]
    search_fields = ["model_name", "error"]
    list_select_related = ["dataset", "created_by"]
    form = TrainingJobForm

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in TrainingJob._meta.fields]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="progress")
    def progress_display(self, obj):
        return format_html(
            '<progress value="{}" max="1"></progress> {}%', obj.progress, round(obj.progress * 100)
        )

    def save_model(self, request, obj, form, change):
        job = training.job_create(user=request.user, **form.request_kwargs())
        obj.pk = job.pk
        obj.refresh_from_db()


@admin.register(StageTransition)
class StageTransitionAdmin(admin.ModelAdmin):
    list_display = ["version", "from_stage", "to_stage", "created_by", "created_at", "reason"]
    list_filter = ["to_stage", "version__model"]
    list_select_related = ["version__model", "created_by"]
    search_fields = ["reason", "version__model__name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EstimatedCountPaginator(Paginator):
    """No COUNT(*) over the whole table: PostgreSQL's estimate when unfiltered."""

    @cached_property
    def count(self):
        qs = self.object_list
        if connection.vendor == "postgresql" and not qs.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [qs.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 100_000:
                return int(row[0])
        return super().count


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "model",
        "version_number",
        "output",
        "actual",
        "source",
        "user",
        "latency_ms",
    ]
    list_filter = ["source", "model", "version__version"]
    date_hierarchy = "created_at"
    list_select_related = ["model", "version", "user"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    search_fields = ["=request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="version", ordering="version__version")
    def version_number(self, obj):
        return obj.version.version
