"""Datasets: upload through the same checks as the API; what was inferred, read-only."""

from django import forms
from django.contrib import admin

from predictor.admin.common import html_table
from predictor.models import Dataset
from predictor.services.errors import ServiceError
from predictor.services.registry import datasets


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
        try:
            profile = {c["name"]: c for c in datasets.dataset_profile(dataset=obj)}
        except ServiceError:
            profile = {}
        rows = []
        for c in obj.columns:
            if c["type"] == "numeric":
                summary = f"{c.get('min')} to {c.get('max')}, mean {c.get('mean') or 0:.4g}"
            else:
                summary = ", ".join(c.get("categories", [])[:8])
            seen = profile.get(c["name"], {})
            rows.append(
                (
                    c["name"],
                    c["type"],
                    f"{c['missing']:.1%}",
                    seen.get("distinct", ""),
                    seen.get("note") or "",
                    summary,
                )
            )
        return html_table(["column", "type", "missing", "distinct", "note", "values"], rows)

    @admin.display(description="First rows")
    def preview(self, obj):
        try:
            rows = datasets.dataset_preview(dataset=obj, rows=10)
        except ServiceError as exc:
            return exc.message
        headers = obj.column_names
        return html_table(headers, [["" if r[h] is None else r[h] for h in headers] for r in rows])

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
