"""The audit trails, read-only: stage transitions and the prediction log."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from predictor.admin.common import ReadOnlyAdmin
from predictor.models import (
    MonitoringAlert,
    Prediction,
    SecurityEvent,
    StageTransition,
    TrafficChange,
)
from predictor.services.log import erasure


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdmin):
    list_display = ["version", "from_stage", "to_stage", "created_by", "created_at", "reason"]
    list_filter = ["to_stage", "version__model"]
    list_select_related = ["version__model", "created_by"]
    search_fields = ["reason", "version__model__name"]


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
    search_fields = ["=request_id", "=user__username"]
    actions = ["erase_users"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one row at a time is not how the log is kept
        return actions

    @admin.action(
        description="Erase every logged prediction of the selected rows' users (erasure request)",
        permissions=["delete"],
    )
    def erase_users(self, request, queryset):
        users = get_user_model().objects.filter(
            pk__in=queryset.exclude(user=None).values("user_id").distinct()
        )
        if not users:
            self.message_user(request, "The selected rows are anonymous: nobody to erase.")
            return
        for user in users:
            erased = erasure.user_erase(user=user)
            self.message_user(request, f"Removed {erased.rows} predictions of {user.username}.")

    @admin.display(description="version", ordering="version__version")
    def version_number(self, obj):
        return obj.version.version


@admin.register(MonitoringAlert)
class MonitoringAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "model",
        "version",
        "from_status",
        "to_status",
        "summary",
        "delivered",
    ]
    list_filter = ["to_status", "model", "delivered"]
    list_select_related = ["model", "version", "version__model"]
    readonly_fields = [
        "model",
        "version",
        "from_status",
        "to_status",
        "summary",
        "figures",
        "created_at",
        "delivered",
    ]


@admin.register(TrafficChange)
class TrafficChangeAdmin(ReadOnlyAdmin):
    """Every change of a traffic policy: who, when, why, before and after (read-only)."""

    list_display = ["created_at", "model", "created_by", "reason", "old", "new"]
    list_filter = ["model"]
    list_select_related = ["model", "created_by"]
    readonly_fields = ["model", "old", "new", "reason", "created_by", "created_at"]


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """The security audit trail (read-only)."""

    list_display = ["created_at", "kind", "username", "client", "detail"]
    list_filter = ["kind"]
    search_fields = ["username", "client"]
    readonly_fields = ["created_at", "kind", "username", "client", "detail"]
