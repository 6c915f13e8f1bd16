"""The production server's worker (mlsite/gunicorn_worker.py).

Under real gunicorn: every request on a kept-alive connection is answered, in order,
whether it comes at once, read ahead or after a pause; a connection that keeps a thread
never keeps it from a waiting one. In process, one call of the worker's `handle` on a real
socket: when its thread stays on the connection and when it lets go."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import TConn

from mlsite.gunicorn_worker import LingeringThreadWorker

ROOT = Path(__file__).resolve().parents[2]
WORKER = "mlsite.gunicorn_worker.LingeringThreadWorker"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(request):
    """gunicorn with one worker of `threads` threads (the test's parameter, else 2)."""
    threads = getattr(request, "param", 2)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "predictor.tests.wsgi_probe:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--worker-class",
            WORKER,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield port
    proc.terminate()
    _, errors = proc.communicate(timeout=30)
    assert "Traceback" not in errors, errors


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[str, str]:
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    answered_path, client_port = response.read().decode().split()
    return answered_path, client_port


def test_requests_on_one_connection_are_answered_in_order(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    answers = [_get(conn, f"/r{i}") for i in range(200)]  # one after another, at once
    time.sleep(0.05)  # past the linger: the connection waits in gunicorn's poller
    answers += [_get(conn, f"/r{i}") for i in range(200, 205)]
    assert [path for path, _ in answers] == [f"/r{i}" for i in range(205)]
    assert len({port for _, port in answers}) == 1  # all on the one kept-alive connection
    conn.close()


def test_requests_sent_together_are_answered_in_order(server):
    """Two requests in one write: the second is read ahead with the first."""
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        received = b""
        while b"/second" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed after {received!r}"
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b"/first") < received.index(b"/second")


@pytest.mark.parametrize("server", [1], indirect=True)
def test_an_idle_connection_does_not_keep_the_only_thread(server):
    idle = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    assert _get(idle, "/idle")[0] == "/idle"  # answered; the connection stays open
    other = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    assert _get(other, "/other")[0] == "/other"
    assert _get(idle, "/idle-again")[0] == "/idle-again"
    idle.close()
    other.close()


@pytest.mark.parametrize("server", [1], indirect=True)
def test_a_busy_connection_gives_way_to_a_waiting_one(server):
    """One thread; one client sends request after request on its connection. Another
    client's request is answered while the busy client is still at it, after a few of its
    requests (how many depends on how soon gunicorn's main thread gets to run), not after
    all 5,000."""
    answered = []
    stop = threading.Event()

    def busy():
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
        for i in range(5000):
            if stop.is_set():
                break
            _get(conn, f"/busy{i}")
            answered.append(time.monotonic())
        conn.close()

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(answered) < 50:  # the busy client is under way
        assert thread.is_alive() and time.monotonic() < deadline, "the busy client failed"
        time.sleep(0.001)
    other = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    other.connect()
    sent = time.monotonic()
    assert _get(other, "/waiting")[0] == "/waiting"
    done, busy_still = time.monotonic(), thread.is_alive() and not stop.is_set()
    stop.set()
    thread.join(30)
    other.close()
    meanwhile = sum(1 for t in answered if sent < t < done)
    assert busy_still, "the waiting request was answered only when the busy client stopped"
    assert meanwhile < 200, f"{meanwhile} requests of the busy connection went first"


# --- the worker's own decision, in process: one call of `handle` on a real socket ---------


def _worker(threads: int, connections: int):
    cfg = Config()
    cfg.set("threads", threads)
    worker = LingeringThreadWorker(0, os.getpid(), [], None, 30, cfg, Logger(cfg))
    worker.tmp.close()  # the heartbeat file: only the main loop, not run here, touches it
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    worker.wsgi, worker.nr_conns = app, connections
    return worker, calls


def _pipelined(paths) -> tuple[TConn, socket.socket]:
    ours, theirs = socket.socketpair()
    theirs.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
    return TConn(Config(), ours, ("127.0.0.1", 40000), ("127.0.0.1", 8000)), theirs


def _handle(worker, conn):
    """`worker.handle(conn)` in a thread of its own, as gthread's pool runs it; what it
    returns, or a failure if it still runs after 5 s."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(worker.handle(conn)), daemon=True)
    thread.start()
    thread.join(5)  # the linger is a millisecond
    assert outcome, "the thread still waits on a connection that sends nothing"
    return outcome[0]


def test_a_thread_serves_the_requests_its_connection_sent_together():
    """gthread answers the first and hands the connection back to its main thread; this
    worker's thread answers all three before it lets go, the connection still open."""
    worker, calls = _worker(threads=2, connections=1)
    conn, client = _pipelined(["/a", "/b", "/c"])
    assert _handle(worker, conn) is True
    assert calls == ["/a", "/b", "/c"]
    client.settimeout(5)
    received = b""
    while received.count(b"200 OK") < 3:
        chunk = client.recv(65536)
        assert chunk, f"the connection closed after {received!r}"
        received += chunk
    client.close()
    conn.sock.close()


def test_with_more_connections_than_threads_a_thread_answers_one_request_and_lets_go():
    worker, calls = _worker(threads=2, connections=3)
    conn, client = _pipelined(["/a", "/b"])
    assert _handle(worker, conn) is True
    assert calls == ["/a"]  # "/b" waits its turn in gunicorn's queue, as in gthread
    client.close()
    conn.sock.close()


def test_a_connection_that_sends_nothing_more_is_let_go_at_once():
    worker, calls = _worker(threads=2, connections=1)
    conn, client = _pipelined(["/a"])
    started = time.monotonic()
    assert _handle(worker, conn) is True  # kept alive, back to gunicorn's poller
    assert time.monotonic() - started < 0.5  # a millisecond's linger, not the keep-alive's
    assert calls == ["/a"]
    client.close()
    conn.sock.close()
