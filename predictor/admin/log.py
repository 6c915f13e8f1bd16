"""The audit trails, read-only: stage transitions and the prediction log."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from predictor.models import Prediction, StageTransition


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
