"""Filters of the prediction history, shared by the API and the history page."""

import django_filters
from django import forms

from predictor.models import Prediction, Source, slug_validator


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class PredictionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(
        field_name="model__name", validators=[slug_validator], max_length=100
    )
    version = IntegerFilter(field_name="version__version")
    source = django_filters.ChoiceFilter(choices=Source.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Prediction
        fields = ["model", "version", "source", "since", "until"]
