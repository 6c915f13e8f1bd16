"""Hourly aggregates added a moment after the rows (PREDICTION_AGGREGATES_DELAY > 0)."""

import time
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.db.models import Sum
from django.utils import timezone

from predictor.models import Prediction, PredictionHour, Source
from predictor.services.log import aggregates, deferred, windows
from predictor.services.serving import inference
from predictor.tests.conftest import train
from predictor.tests.services.test_log import rows


@pytest.fixture(autouse=True)
def _nothing_pending(monkeypatch):
    monkeypatch.setattr(deferred, "_served", [])


def all_users(version):
    return PredictionHour.objects.filter(version=version, user_key=aggregates.ALL_USERS)


def added(version) -> tuple[int, int]:
    sums = all_users(version).aggregate(p=Sum("predictions"), r=Sum("requests"))
    return sums["p"] or 0, sums["r"] or 0


def test_rows_are_stored_at_once_and_a_reader_adds_the_figures_first(
    iris_version, alice, settings, monkeypatch
):
    settings.PREDICTION_AGGREGATES_DELAY = 30
    monkeypatch.setattr(deferred, "_thread_start", lambda: None)  # no timer: the reader adds
    for n in (1, 4, 7):
        inference.predict(version=iris_version, records=rows(n), user=alice)
    assert Prediction.objects.filter(version=iris_version).count() == 12
    assert added(iris_version) == (0, 0)  # not yet
    assert deferred.pending()

    now = timezone.now()
    scope = windows.Scope(version_ids=(iris_version.pk,))
    hours = windows.window(
        scope=scope, since=now - timedelta(hours=2), until=now + timedelta(hours=1)
    ).hours
    assert sum(h.predictions for h in hours) == 12
    assert added(iris_version) == (12, 3)
    assert not deferred.pending()
    mine = PredictionHour.objects.get(version=iris_version, user_key=alice.pk, source=Source.API)
    assert (mine.predictions, mine.requests) == (12, 3)


@pytest.mark.django_db(transaction=True)
def test_the_figures_are_added_within_the_delay_without_a_reader(iris_version, settings):
    settings.PREDICTION_AGGREGATES_DELAY = 0.2
    inference.predict(version=iris_version, records=rows(5))
    inference.predict(version=iris_version, records=rows(2), source=Source.WEB)
    deadline = time.monotonic() + 10
    while added(iris_version) != (7, 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert added(iris_version) == (7, 2)
    assert not deferred.pending()


def test_figures_that_cannot_be_added_stay_pending_and_are_added_later(
    iris_version, settings, monkeypatch
):
    settings.PREDICTION_AGGREGATES_DELAY = 30
    monkeypatch.setattr(deferred, "_thread_start", lambda: None)
    inference.predict(version=iris_version, records=rows(3))
    real = aggregates.tally_write

    def broken(tally, using):
        raise DatabaseError("the server went away")

    monkeypatch.setattr(aggregates, "tally_write", broken)
    with pytest.raises(DatabaseError):
        deferred.flush()
    assert deferred.pending() and added(iris_version) == (0, 0)
    inference.predict(version=iris_version, records=rows(2))  # more arrive meanwhile

    monkeypatch.setattr(aggregates, "tally_write", real)
    deferred.flush()
    assert added(iris_version) == (5, 2)  # nothing lost, nothing twice
    assert Prediction.objects.filter(version=iris_version).count() == 5


def test_with_no_delay_the_figures_are_in_the_rows_statement(iris_version, settings):
    settings.PREDICTION_AGGREGATES_DELAY = 0
    inference.predict(version=iris_version, records=rows(4))
    assert not deferred.pending()
    assert added(iris_version) == (4, 1)


@pytest.mark.django_db(transaction=True)
def test_the_timer_stops_and_lets_go_of_its_connection_when_switched_off(iris_version, settings):
    settings.PREDICTION_AGGREGATES_DELAY = 0.1
    inference.predict(version=iris_version, records=rows(2))
    thread = deferred._thread
    assert thread is not None and thread.is_alive()
    settings.PREDICTION_AGGREGATES_DELAY = 0
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert added(iris_version) == (2, 1)


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when flush commits
def test_a_version_deleted_before_its_figures_are_added_does_not_block_the_others(
    iris_version, iris_dataset, settings, monkeypatch
):
    settings.PREDICTION_AGGREGATES_DELAY = 30
    monkeypatch.setattr(deferred, "_thread_start", lambda: None)
    other = train(iris_dataset, model="iris-other")
    inference.predict(version=other, records=rows(2))
    inference.predict(version=iris_version, records=rows(3))
    # Its rows are erased and the model deleted before the figures are added.
    Prediction.objects.filter(version=other).delete()
    other.model.delete()
    with pytest.raises(DatabaseError):
        deferred.flush()
    deferred.flush()  # the next try adds the rest
    assert added(iris_version) == (3, 1)
    assert not deferred.pending()


def test_figures_no_try_could_add_are_dropped_and_do_not_block_the_others(
    iris_version, settings, monkeypatch, caplog
):
    settings.PREDICTION_AGGREGATES_DELAY = 30
    monkeypatch.setattr(deferred, "_thread_start", lambda: None)
    inference.predict(version=iris_version, records=rows(3))
    # A request whose figures cannot be counted (outputs no count can take).
    poison = aggregates.Served(
        version=iris_version,
        moment=timezone.now(),
        source=Source.API,
        user_id=None,
        records=rows(1),
        outputs=None,
        latency_ms=1.0,
    )
    deferred.add(served=[poison])
    inference.predict(version=iris_version, records=rows(2))
    deferred.flush()  # the others are added, the one that cannot be is dropped
    assert added(iris_version) == (5, 2)
    assert not deferred.pending()
    assert "dropped" in caplog.text and "rebuild_aggregates" in caplog.text
    inference.predict(version=iris_version, records=rows(1))
    deferred.flush()
    assert added(iris_version) == (6, 3)
