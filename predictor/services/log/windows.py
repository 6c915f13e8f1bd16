"""Windows over the prediction log: whole hours from the hourly aggregates, the partial
hours at a window's ends from the rows (while they exist).

A reader names what it wants with `Scope` (model ids, version ids, source, user; shadow
rows in or out) and gets both parts; its figures then cost the same whatever the log's
size, and hours whose rows were pruned keep their figures.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from predictor.models import Prediction, PredictionHour, Source
from predictor.services.log import aggregates, deferred

HOUR = timedelta(hours=1)


def floor_hour(*, moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(*, moment: datetime) -> datetime:
    floor = floor_hour(moment=moment)
    return floor if floor == moment else floor + HOUR


@dataclass(frozen=True)
class Scope:
    model_ids: tuple | None = None
    version_ids: tuple | None = None
    source: str | None = None
    user_id: int | None = None  # only this user's figures (None: everybody's)
    shadows: bool = False

    def hours(self):
        deferred.flush()  # this process's figures not yet added, so it reads its own rows
        qs = PredictionHour.objects.all()
        if self.model_ids is not None:
            qs = qs.filter(model_id__in=self.model_ids)
        if self.version_ids is not None:
            qs = qs.filter(version_id__in=self.version_ids)
        if self.source:
            qs = qs.filter(source=self.source)
        elif not self.shadows:
            qs = qs.exclude(source=Source.SHADOW)
        # One user's keys, or the rows that add up every user's.
        return qs.filter(user_key=aggregates.ALL_USERS if self.user_id is None else self.user_id)

    def rows(self):
        qs = Prediction.objects.all()
        if self.model_ids is not None:
            qs = qs.filter(model_id__in=self.model_ids)
        if self.version_ids is not None:
            qs = qs.filter(version_id__in=self.version_ids)
        if self.source:
            qs = qs.filter(source=self.source)
        elif not self.shadows:
            qs = qs.exclude(source=Source.SHADOW)
        if self.user_id is not None:
            qs = qs.filter(user_id=self.user_id)
        return qs


@dataclass
class Window:
    """`hours`: aggregate rows of the whole hours; `rows`: prediction rows of the rest."""

    since: datetime
    until: datetime
    hours: object
    rows: object


def window(*, scope: Scope, since: datetime, until: datetime) -> Window:
    """The figures of [since, until): whole hours from aggregates, the ends from rows."""
    first, last = ceil_hour(moment=since), floor_hour(moment=until)
    if until >= timezone.now():
        last = ceil_hour(moment=until)  # the current hour's aggregate is exactly its rows so far
    if first >= last:  # no whole hour inside: everything from the rows
        return Window(
            since,
            until,
            scope.hours().none(),
            scope.rows().filter(created_at__gte=since, created_at__lt=until),
        )
    ends = Q(created_at__gte=since, created_at__lt=first) | Q(
        created_at__gte=last, created_at__lt=until
    )
    return Window(
        since,
        until,
        scope.hours().filter(hour__gte=first, hour__lt=last),
        scope.rows().filter(ends),
    )
