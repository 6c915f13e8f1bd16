"""Adaptive micro-batching: concurrent requests for one version in one process share a call.

A request hands its validated rows to its version's batcher. When no call for that version
is running, the request runs at once, with whatever else is queued (no waiting when it is
alone). While a call runs, later requests queue; when it ends, the first of them leads the
next call with everything queued, up to `MICROBATCH_MAX_ROWS` rows. A leader waits up to
`MICROBATCH_MAX_WAIT_MS` only while other requests for the version are already in flight in this
process (between arriving and queueing), to take them along. Each caller gets exactly its
own outcome; versions never mix, as each has its own batcher. No thread of its own: the
callers' threads do the work (gunicorn's gthread workers, the production server of docs/operations.md).

State: one batcher per version key, made on first use; nothing invalidates them (a version
never changes); `reset()` forgets them (tests).
"""

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings


class Pending:
    """One caller's rows and, once its call ran, its outcome (a value or an exception)."""

    __slots__ = ("rows", "context", "latch", "lead", "value", "error")

    def __init__(self, rows: list, context=None):
        self.rows = rows
        self.context = context
        # Held while a queued caller waits; released when its call ran or the lead is its.
        # None for a caller that leads at once (most of them: nothing to wait for).
        self.latch: threading.Lock | None = None
        self.lead = False
        self.value = None
        self.error = None

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.value


class Batcher:
    """The queue of one version. `execute(pendings)` runs one call for all of them and sets
    each one's value (or error)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.queue: list[Pending] = []
        self.busy = False
        self.coming = 0  # callers that arrived (validating) and have not queued yet

    @contextmanager
    def arriving(self):
        """Around a request's validation and submission: while it lasts, a leader knows
        rows are on their way. `submit` ends the wait as the rows join the queue."""
        ticket = {"queued": False}
        with self.cond:
            self.coming += 1
        try:
            yield ticket
        finally:
            if not ticket["queued"]:
                with self.cond:
                    self.coming -= 1
                    self.cond.notify_all()

    def submit(self, pending: Pending, execute: Callable[[list[Pending]], None], ticket=None):
        with self.cond:
            self.queue.append(pending)
            if ticket is not None and not ticket["queued"]:
                ticket["queued"] = True
                self.coming -= 1
            self.cond.notify_all()
            leader = not self.busy
            self.busy = True
            if not leader:
                latch = pending.latch = threading.Lock()
                latch.acquire()
        if not leader:
            latch.acquire()  # until a leader releases it
            if not pending.lead:
                return pending.outcome()
        self._lead(execute)
        return pending.outcome()

    def _lead(self, execute) -> None:
        """Run one call for the head of the queue, then hand the lead to whoever waits."""
        limit = max(1, settings.MICROBATCH_MAX_ROWS)
        deadline = time.monotonic() + settings.MICROBATCH_MAX_WAIT_MS / 1000.0
        with self.cond:
            while (
                self.coming > 0
                and sum(len(p.rows) for p in self.queue) < limit
                and (left := deadline - time.monotonic()) > 0
            ):
                self.cond.wait(left)
            batch, rows = [], 0
            for pending in self.queue:
                if batch and rows + len(pending.rows) > limit:
                    break
                batch.append(pending)
                rows += len(pending.rows)
            del self.queue[: len(batch)]
        try:
            execute(batch)
        except BaseException as exc:  # every caller of a failed call gets the failure
            for pending in batch:
                if pending.value is None and pending.error is None:
                    pending.error = exc
        with self.cond:
            for pending in batch:
                _release(pending)
            if self.queue:
                head = self.queue[0]
                head.lead = True
                _release(head)
            else:
                self.busy = False


def _release(pending: Pending) -> None:
    """Wake a waiting caller (under the batcher's lock; each latch is released once)."""
    if pending.latch is not None:
        pending.latch.release()
        pending.latch = None


_lock = threading.Lock()
_batchers: dict = {}


def batcher_for(*, key) -> Batcher:
    """The batcher of one version (made on first use)."""
    found = _batchers.get(key)
    if found is None:
        with _lock:
            found = _batchers.setdefault(key, Batcher())
    return found


def reset() -> None:
    with _lock:
        _batchers.clear()
