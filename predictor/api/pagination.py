"""Pagination that refuses nonsense instead of ignoring it: page numbers for short lists,
a cursor for the prediction log."""

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from predictor.services.log import history


class PagePagination(PageNumberPagination):
    """?page= and ?page_size= (1 to 500); a page_size that is not a number is a 400."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def validate(self, request) -> None:
        """Refuse a page or page_size that is not a number in range."""
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
            raise ValidationError({"page": ["must be a whole number from 1"]})
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {"page_size": [f"must be a whole number from 1 to {self.max_page_size}"]}
            )

    def get_page_number(self, request, paginator):
        self.validate(request)
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_query_param:
                param["schema"]["minimum"] = 1
            if param["name"] == self.page_size_query_param:
                param["schema"].update(minimum=1, maximum=self.max_page_size)
        return params

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {"page_size": [f"must be a whole number from 1 to {self.max_page_size}"]}
            )
        return super().get_page_size(request)


class LogCursorPagination(BasePagination):
    """The prediction log: an opaque cursor over (created_at, id), newest first, no count.

    `?page_size=` 1..PREDICTION_PAGE_MAX (default PREDICTION_PAGE_SIZE); `?cursor=` from a
    `next` or `previous` link."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return settings.PREDICTION_PAGE_SIZE
        if not (raw.isdigit() and 1 <= int(raw) <= settings.PREDICTION_PAGE_MAX):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"must be a whole number from 1 to {settings.PREDICTION_PAGE_MAX}"
                    ]
                }
            )
        return int(raw)

    def validate(self, request) -> None:
        self.page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None:
            history.cursor_parse(text=raw)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = history.page(
            queryset=queryset,
            cursor=request.query_params.get(self.cursor_query_param),
            size=self.page_size(request),
        )
        return self.page.rows

    def _link(self, cursor):
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.page.next),
                "previous": self._link(self.page.previous),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "From a `next` or `previous` link.",
                "schema": {"type": "string", "maxLength": 200},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Rows per page.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": settings.PREDICTION_PAGE_MAX,
                },
            },
        ]
