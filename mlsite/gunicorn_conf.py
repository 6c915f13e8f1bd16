"""gunicorn settings for mlsite: `gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf`.

Command-line flags (--bind, --workers, --threads) still apply on top of these.

Metrics: the workers share a directory of Prometheus metric files, so a scrape answered by
any worker reports the totals of all of them. `on_starting` (in the master, before the
first fork) empties `PROMETHEUS_MULTIPROC_DIR` when it is set, else makes a fresh temporary
directory and sets it: prometheus_client reads the variable once, at import, and workers
import it only after the fork. Nothing here imports prometheus_client before that.
"""

import os
import shutil
import tempfile

from mlsite import perf

# gunicorn answers an over-long request line itself, with an HTML page. Let it through
# (its parser still caps a line at 1 MiB) so the service answers a JSON 414 instead.
limit_request_line = 0

# gthread (gunicorn with --threads), whose thread stays on a connection that sends its next
# request at once while the worker has no more connections than threads
# (mlsite/gunicorn_worker.py).
worker_class = "mlsite.gunicorn_worker.LingeringThreadWorker"

# Threads a worker. Measured at 16 connections, 2 workers, interleaved with this setting
# (bench/RESULTS.md "Threads per worker", 2026-12-07): 4 threads answered 33% and 13% fewer
# requests a second and spent 29% and 21% more worker CPU a request in two runs, the CPU
# beyond the noise in both. With 8 connections a worker and 4 threads, connections outnumber
# threads and the worker falls back to gthread's hand-offs between threads. (The earlier
# table, where 4 threads led at 16 connections, 1,591 against 1,515 req/s, was within its
# runs' spread.) Each thread may hold two database connections (the default one and "log").
threads = 8

_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_made_dirs: list[str] = []


def on_starting(server):
    """A clean metrics directory for this run of the server (figures start from zero)."""
    path = os.environ.get(_METRICS_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for entry in os.scandir(path):
            if entry.is_file() and entry.name.endswith(".db"):
                os.remove(entry.path)
    else:
        path = tempfile.mkdtemp(prefix="mlsite-metrics-")
        _made_dirs.append(path)
        os.environ[_METRICS_ENV] = path
    server.log.info("metrics: worker files in %s", path)


def on_exit(server):
    for path in _made_dirs:
        shutil.rmtree(path, ignore_errors=True)


def post_fork(server, worker):
    """Two malloc arenas per worker instead of eight per core: with several threads
    handling large requests, glibc's default arenas hold on to freed memory."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def post_worker_init(worker):
    """Every worker reports its CPU and memory from the start, not from its first scrape;
    then what lives as long as the worker is put out of the garbage collector's reach."""
    from predictor.services import metrics

    metrics.process_sampler_start()
    # Kept: the objects loaded before the first request are out of the collector's reach,
    # so each collection walks fewer and forked workers keep sharing their pages. Measured
    # alone in the trial (bench/RESULTS.md "Overrides on trial", 2026-12-07): without it,
    # +16% and +14% worker CPU a request at 1,000 rows, +7% and +1% at 1 row — the CPU leans
    # its way in every run, within the noise (±16-35%). gc.freeze is public API.
    if perf.on("gc_freeze"):
        freeze_long_lived()


def freeze_long_lived():
    """The modules, settings and every door (the URLconf, loaded here rather than by the
    first request) live as long as the worker. gc.freeze() moves them out of the cyclic
    collector's reach, so a full collection scans what requests made, not the whole heap:
    a 1,000-row request allocates enough to set one off every twenty requests or so, and
    each took about 58 ms here (a quarter of such a request's CPU, on average). Objects
    are still freed when no longer referenced; only cycles among these are never sought."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view and the services)
    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    """A worker that stops adds the hourly figures of its last logged rows before it goes
    (predictor/services/log/deferred.py)."""
    from predictor.services.log import deferred

    deferred.flush_quietly()


def child_exit(server, worker):
    """A worker that exited takes its per-process gauges along; its counts stay summed."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
