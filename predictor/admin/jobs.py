"""Training jobs: start one through the shared validation; ended jobs are read-only."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from predictor.models import RetrainPolicy, ScopedAPIKey, SecurityEvent, TrainingJob
from predictor.services import audit, jobs, training
from predictor.services.errors import ServiceError


class TrainingJobForm(forms.ModelForm):
    user = None  # who asks (set by the admin): their cap of queued and running jobs applies
    params = forms.JSONField(required=False, initial=dict, help_text='e.g. {"n_estimators": 200}')
    search_space = forms.JSONField(
        required=False, help_text='optional, e.g. {"max_depth": [3, 5, null]}'
    )
    # Not named `exclude`: ModelAdmin.exclude would shadow it on the read-only job page.
    leave_out = forms.CharField(
        label="Exclude",
        required=False,
        help_text="Columns to leave out, comma-separated; blank: those the dataset's profile "
        "notes as identifier or constant; '-' keeps every column.",
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
            jobs.jobs_check_cap(user=self.user)
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
            "exclude": _exclude(d.get("leave_out") or ""),
        }


def _exclude(text: str) -> list[str] | None:
    """The admin's comma-separated `exclude`: blank → the default, "-" → keep every column."""
    text = text.strip()
    if not text:
        return None
    return [] if text == "-" else [n.strip() for n in text.split(",") if n.strip()]


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
    actions = ["cancel_jobs"]

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset:
            try:
                jobs.job_cancel(job=job, user=request.user)
            except ServiceError:
                continue  # already ended
            cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} job(s).")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a class made for this request
        form.user = request.user
        return form

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


@admin.register(RetrainPolicy)
class RetrainPolicyAdmin(admin.ModelAdmin):
    """When a model retrains by itself (manage.py retrain_due runs what is due)."""

    list_display = [
        "model", "enabled", "every_hours", "on_drift", "on_live_below", "promote",
        "min_improvement", "include_feedback", "feedback_from", "last_run_at",
    ]  # fmt: skip
    list_filter = ["enabled", "promote"]
    readonly_fields = ["last_run_at", "updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ScopedAPIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    """Scoped API keys: the key is shown once, in the message after saving."""

    list_display = [
        "prefix",
        "name",
        "created_by",
        "model_names",
        "expiry_date",
        "last_used",
        "revoked",
    ]
    fields = ["name", "model_names", "expiry_date", "revoked", "prefix", "created_by", "last_used"]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "created_by", "last_used"]

    def save_model(self, request, obj, form, change):
        created = not obj.pk
        if created:
            obj.created_by = request.user
        revoking = change and "revoked" in form.changed_data and obj.revoked
        super().save_model(request, obj, form, change)
        if created:
            audit.record(
                kind=SecurityEvent.Kind.KEY_CREATED,
                username=request.user.get_username(),
                detail=f"key {obj.prefix} ({obj.name}) in the admin",
            )
        elif revoking:
            audit.record(
                kind=SecurityEvent.Kind.KEY_REVOKED,
                username=request.user.get_username(),
                detail=f"key {obj.prefix} ({obj.name}) in the admin",
            )


# The package's own unscoped key model is not used: only scoped keys are offered.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)
