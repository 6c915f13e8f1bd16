"""Filters of the prediction history, shared by the API and the history page."""

import django_filters
from django import forms

from predictor import selectors
from predictor.models import Prediction, Source, slug_validator
from predictor.services import timestamps
from predictor.services.errors import InvalidInput


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class TimestampField(forms.Field):
    """ISO 8601, parsed strictly by the service (offsets within ±14:00)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return timestamps.timestamp_parse(text=value, field=self.label or "timestamp")
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


class TimestampFilter(django_filters.Filter):
    field_class = TimestampField


class PredictionFilter(django_filters.FilterSet):
    """The log is filtered by model and version ids (looked up first), so each filter is a
    range scan of one of the log's indexes, newest first."""

    model = django_filters.CharFilter(
        method="by_model", validators=[slug_validator], max_length=100
    )
    version = IntegerFilter(method="by_version", min_value=1, max_value=2**31 - 1)
    source = django_filters.ChoiceFilter(choices=Source.choices)
    since = TimestampFilter(field_name="created_at", lookup_expr="gte", label="since")
    until = TimestampFilter(field_name="created_at", lookup_expr="lte", label="until")

    class Meta:
        model = Prediction
        fields = ["model", "version", "source", "since", "until"]

    def by_model(self, queryset, name, value):
        return queryset.filter(model_id__in=selectors.model_ids(value))

    def by_version(self, queryset, name, value):
        model = self.form.cleaned_data.get("model")
        return queryset.filter(version_id__in=selectors.version_ids(value, model=model))
