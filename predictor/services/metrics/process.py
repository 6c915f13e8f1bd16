"""This worker's CPU and memory, sampled every few seconds by a thread of its own (started
in gunicorn's post_worker_init) and at every scrape."""

import os
import threading
import time

from predictor.services.metrics.families import _Families, _lock, families, never_raises

PROCESS_SAMPLE_SECONDS = 5.0
_sampler: threading.Thread | None = None


def sample(*, families: _Families) -> None:
    cpu = sum(os.times()[:2])
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = None  # not Linux: no figure rather than a wrong one
    if families.registry is None:
        cpu_gauge, rss_gauge = families.cpu, families.rss
    else:
        pid = str(os.getpid())
        cpu_gauge, rss_gauge = families.cpu.labels(pid), families.rss.labels(pid)
    cpu_gauge.set(cpu)
    if rss is not None:
        rss_gauge.set(rss)


def process_sampler_start() -> None:
    """Sample this worker's CPU and memory every few seconds from now on (gunicorn's
    post_worker_init), so every live worker shows, also one that has served nothing."""
    global _sampler
    made = families()
    with _lock:
        if _sampler is not None:
            return
        _sampler = threading.Thread(
            target=_sample_forever, args=(made,), name="metrics-process", daemon=True
        )
    _sampler.start()


def _sample_forever(families: _Families) -> None:
    while True:
        with never_raises("process"):
            sample(families=families)
        time.sleep(PROCESS_SAMPLE_SECONDS)
