"""gunicorn's threaded worker, keeping a thread on a connection that sends its next request
at once: `worker_class` in mlsite/gunicorn_conf.py.

In gunicorn's gthread worker every request on a kept-alive connection travels twice
between threads: when an answer is sent, the worker thread hands the connection to the
main thread (through a pipe), which puts it back in its poller; when the next request
arrives, the main thread takes it out and submits it to the thread pool, whose thread
wakes. A client that sends one request after another (a program scoring rows, a load
generator at one connection) pays those hand-offs on every request: about 0.3 ms of CPU
a request here, a fifth of a one-row prediction's.

This worker's thread, after answering on a kept-alive connection, waits up to
`LINGER_MS` for that connection's next request and serves it itself, but only while
the worker has no more open connections than threads: then every connection can have a
thread, and keeping one on its connection holds no other up. With more connections than
threads it behaves as gthread does, one request at a time for each connection in turn
(measured: at 16 connections on 2 workers of 4 threads lingering gained nothing).
Everything else (parsing, keep-alive limits, timeouts, graceful stops, max_requests) is
gthread's own. TLS connections are left to gthread (their decrypted bytes can wait in the
TLS layer, where poll() does not see them).

The application finds in its environ, under `mlsite.connection_close`, a function that
ends the connection after the answer (`Connection: close`, then gunicorn's graceful
close): an answer sent without reading the body (an upload over its cap) uses it, as a
WSGI application may not send that header itself (PEP 3333; gunicorn drops it) and a
kept-alive connection would otherwise first be drained of the body's rest.
"""

import select

from gunicorn.workers.gthread import ThreadWorker

from mlsite import perf

# A client sending its next request at once does so within a fraction of this; a client
# that pauses longer finds its connection in the poller, as with gthread.
LINGER_MS = 1
# Kept for its case, one client sending request after request: measured alone there when
# it was built, about 0.3 ms of CPU a request (see above). At 16 connections, where it
# rarely engages, the trial (bench/RESULTS.md "Overrides on trial", 2026-12-07) showed
# -1% and -9% req/s switched off, within its noise (±32-38%). gunicorn's internals it reads
# are pinned by predictor/tests/test_overrides.py.
_LINGER = perf.on("linger")  # off: gthread's own loop (the connection_close offer stays)


CONNECTION_CLOSE = "mlsite.connection_close"  # read by predictor.web.responses.close_connection


class OffersConnectionClose:
    """The WSGI application, given the answer's `force_close` in its environ."""

    __slots__ = ("app",)

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        answer = getattr(start_response, "__self__", None)  # gunicorn's Response
        close = getattr(answer, "force_close", None)
        if close is not None:
            environ[CONNECTION_CLOSE] = close
        return self.app(environ, start_response)


class LingeringThreadWorker(ThreadWorker):
    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = OffersConnectionClose(self.wsgi)

    def handle(self, conn):
        keepalive = super().handle(conn)  # False for HTTP/2: its connection stays in there
        if self.cfg.is_ssl or not _LINGER:
            return keepalive
        while keepalive is True and self.alive and self._all_connections_have_a_thread():
            if not conn.parser.unreader.buf.getvalue():  # nothing read ahead: wait
                waiting = select.poll()  # poll, not select: no limit on the descriptor
                try:
                    waiting.register(conn.sock, select.POLLIN)
                    if not waiting.poll(LINGER_MS):
                        return keepalive
                except (OSError, ValueError):  # the socket broke meanwhile: close it
                    return False
                if not self._all_connections_have_a_thread():  # one came meanwhile
                    return keepalive
            keepalive = super().handle(conn)
        return keepalive

    def _all_connections_have_a_thread(self) -> bool:
        """No more open connections than threads. The main thread counts them: one it
        accepts is counted before its request is queued (and checked for again after
        each wait), one that closes a moment after, which only makes this linger less."""
        return self.nr_conns <= self.cfg.threads
