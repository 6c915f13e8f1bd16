"""The hourly aggregates of this process's logged rows, added a moment later.

Adding a request's figures in the statement that stores its rows makes every concurrent
writer update the same aggregate rows (one per hour, version and source), so their commits
queue on those rows' locks, and PostgreSQL's JSON merging doubles the statement's cost:
measured here, one-row requests on iris went from p50 3.4–4.7 ms to 1.9–2.1 ms and from
515–543 to 904–966 req/s without it. So, when `PREDICTION_AGGREGATES_DELAY` (seconds) is
above 0, the writer commits the rows alone and hands the requests it served here; they are
counted together (one set of figures per hour, version, source and user) and added in one
upsert every DELAY seconds by a thread of this process, before any reader of the aggregates
in this process reads them, when a job ends, and when the process exits. The rows stay the
truth: figures are only ever added for rows already committed.

If the process dies without exiting (SIGKILL, power), the figures of its last DELAY seconds
are missing from the aggregates until `manage.py rebuild_aggregates` recomputes them from
the rows. `PREDICTION_AGGREGATES_DELAY=0` adds them in the rows' own statement instead.
"""

import atexit
import logging
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, DataError, connections, transaction

from predictor.models import ModelVersion
from predictor.services.log import aggregates

log = logging.getLogger(__name__)

_lock = threading.Lock()
_served: list[aggregates.Served] = []
_thread: threading.Thread | None = None


def delay() -> float:
    return float(getattr(settings, "PREDICTION_AGGREGATES_DELAY", 0) or 0)


def add(*, served: list[aggregates.Served]) -> None:
    """Requests whose rows were committed: counted and added within `delay()` (counting
    them here, a request at a time, cost more than their INSERT)."""
    with _lock:
        _served.extend(served)
        _thread_start()


def pending() -> bool:
    with _lock:
        return bool(_served)


def flush() -> None:
    """Count everything pending now and add it in one upsert (in key order, so concurrent
    flushes of other processes cannot deadlock with it). Figures no try could add
    (`_UNADDABLE`) are added request by request, and those refused again dropped; if the
    upsert fails otherwise (the database is away), everything stays pending and the error
    is raised."""
    global _served
    with _lock:
        taken, _served = _served, []
    if not taken:
        return
    try:
        _add(taken)
    except _UNADDABLE as exc:
        log.error(
            "hourly aggregates: %d requests' figures refused (%s); adding them one by one",
            len(taken),
            exc,
        )
        _add_one_by_one(taken)
    except Exception:
        with _lock:
            _served[:0] = _of_existing_versions(taken)
        raise


# Figures that no later try could add either (a value the database refuses, or one that
# cannot be counted): kept pending, they would fail every flush of this process after them.
_UNADDABLE = (DataError, ArithmeticError, TypeError, ValueError)


def _add(served: list[aggregates.Served]) -> None:
    tally = aggregates.tally_of(served=served)
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        aggregates.tally_write(tally, DEFAULT_DB_ALIAS)


def _add_one_by_one(taken: list[aggregates.Served]) -> None:
    """Each request's figures alone: those refused again are dropped (logged; the rows are
    stored, and `rebuild_aggregates` recomputes their hours), the others added. If the
    database goes away meanwhile, what is left stays pending and the error is raised."""
    for i, served in enumerate(taken):
        try:
            _add([served])
        except _UNADDABLE as exc:
            log.error(
                "hourly aggregates: the figures of a request to %s at %s are dropped (%s); "
                "run rebuild_aggregates for that hour",
                served.version,
                served.moment,
                exc,
            )
        except Exception:
            with _lock:
                _served[:0] = _of_existing_versions(taken[i:])
            raise


def _of_existing_versions(taken: list[aggregates.Served]) -> list[aggregates.Served]:
    """What is kept for the next try: not the requests of a version deleted meanwhile
    (its rows went with it; its figures would fail every later upsert)."""
    try:
        there = set(
            ModelVersion.objects.filter(pk__in={s.version.pk for s in taken}).values_list(
                "pk", flat=True
            )
        )
    except DatabaseError:
        return taken  # the database is away: keep everything
    return [s for s in taken if s.version.pk in there]


def _thread_start() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, name="mlsite-aggregates", daemon=True)
        _thread.start()


def _run() -> None:
    while True:
        time.sleep(max(delay(), 0.05))
        try:
            flush()
        except DatabaseError as exc:
            log.error("hourly aggregates could not be added (kept for the next try): %s", exc)
            connections[DEFAULT_DB_ALIAS].close()  # a broken connection is made anew
        except Exception:  # never let the thread die with figures pending
            log.exception("hourly aggregates could not be added (kept for the next try)")
        if delay() <= 0 and not pending():  # switched off (tests): nothing left to add
            connections[DEFAULT_DB_ALIAS].close()
            return


def flush_quietly() -> None:
    """At exit and at a job's end: add what is pending; a failure is logged, not raised."""
    try:
        flush()
    except Exception:
        log.exception("hourly aggregates could not be added at exit; run rebuild_aggregates")


atexit.register(flush_quietly)
