"""gunicorn settings for mlsite: `gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf`.

Command-line flags (--bind, --workers, --threads) still apply on top of these.
"""

# gunicorn answers an over-long request line itself, with an HTML page. Let it through
# (its parser still caps a line at 1 MiB) so the service answers a JSON 414 instead.
limit_request_line = 0


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
