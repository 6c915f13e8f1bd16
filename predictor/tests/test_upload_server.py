"""Upload caps under a real gunicorn (mlsite.gunicorn_conf, its worker class): a client
streaming a 300 MB upload to the batch page gets a clear answer while it is still sending,
the connection then ends (no hang), and the worker's memory does not grow by the upload."""

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
MB = 2**20
CAP = 50 * MB  # BATCH_MAX_UPLOAD_BYTES, its default
BOUNDARY = "streamboundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
    "Content-Type: text/csv\r\n\r\nsepal_length,sepal_width,petal_length,petal_width\r\n"
).encode()
CHUNK = b"5.1,3.5,1.4,0.2\n" * (MB // 16)  # 1 MB of rows
CSRF = "c" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    """The test database, for a server process (SQLite's file, or the PostgreSQL one)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@contextlib.contextmanager
def gunicorn(tmp_path, **extra_env):
    """The service under gunicorn, one worker, on the test database; yields (port, the
    gunicorn master process)."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "mlsite.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the session below is signed with it
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("BATCH_MAX_UPLOAD_BYTES", "REQUEST_MAX_BODY_BYTES", "FILE_UPLOAD_MAX_MEMORY_SIZE"):
        env.pop(name, None)
    env.update(extra_env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mlsite.wsgi",
            "-c",
            "python:mlsite.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield port, proc
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=30)
    assert "Traceback" not in errors, errors


def workers(master) -> list[int]:
    return [
        int(p) for p in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    ]


@pytest.fixture
def server(transactional_db, iris_version, tmp_path):
    """The service under gunicorn, one worker, on the test database (committed: the
    iris model); yields (port, worker pid)."""
    with gunicorn(tmp_path) as (port, master):
        yield port, workers(master)[0]


def session_cookies(user) -> str:
    """A logged-in session and a CSRF cookie for `user` (the X-CSRFToken header carries
    the same secret), as a browser would send them."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"Cookie: sessionid={session.session_key}; csrftoken={CSRF}\r\nX-CSRFToken: {CSRF}\r\n"


@pytest.fixture
def alice_cookies(alice) -> str:
    """Alice logged in: the page reads her upload as it would a browser's."""
    return session_cookies(alice)


def _rss(pid: int, field: str = "VmRSS") -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) * 1024


def _peak(pid: int) -> int:
    """The worker's highest RSS yet (VmHWM): what a request held at its peak, even when
    freed before its answer (large blocks go back to the system at once)."""
    return _rss(pid, "VmHWM")


def _stream(port: int, head: bytes, chunks) -> tuple[int, dict, str, int]:
    """Send `head`, then the chunks while no answer has come; read the answer to its end
    (the server closes the connection). Returns status, headers, body, bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    answer = b""
    try:
        sock.sendall(head)
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is coming: stop sending, as a browser does
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break  # the server closed the connection
            answer += data
        else:
            raise AssertionError("the connection was not closed after the answer")
    finally:
        sock.close()
    head_text, _, body = answer.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body.decode("utf-8", "replace"), sent


def _head(extra: str) -> bytes:
    return (
        "POST /models/iris/batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}\r\n"
    ).encode()


def _chunks(total: int, framing=lambda chunk: chunk, *, tail: bytes = b""):
    yield framing(PART_HEAD)
    for _ in range(total // len(CHUNK)):
        yield framing(CHUNK)
    if tail:
        yield framing(tail)


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
WHOLE = len(PART_HEAD) + 300 * MB + len(TAIL)  # a complete form of a 300 MB file


def test_a_300_mb_batch_upload_is_answered_at_once_and_not_held(server, alice_cookies):
    port, worker = server
    before = _rss(worker)
    started = time.monotonic()
    status, headers, body, sent = _stream(
        port, _head(f"Content-Length: {WHOLE}\r\n{alice_cookies}"), _chunks(300 * MB, tail=TAIL)
    )
    took = time.monotonic() - started
    grew = _peak(worker) - before
    print(
        f"Content-Length 300 MB: {status} after {sent / MB:.0f} MB sent, {took:.2f} s, "
        f"worker RSS {before / MB:.0f} MB, peak +{grew / MB:.1f} MB"
    )
    assert status == 413 and headers["connection"] == "close"
    assert "The upload is 300.0 MB; the limit is 50.0 MB (BATCH_MAX_UPLOAD_BYTES)" in body
    assert sent < CAP  # answered long before the body was through
    assert grew < CAP / 10


def test_a_chunked_300_mb_upload_is_refused_unread(server, alice_cookies):
    port, worker = server
    before = _rss(worker)
    status, headers, body, sent = _stream(
        port,
        _head(f"Transfer-Encoding: chunked\r\n{alice_cookies}"),
        _chunks(300 * MB, lambda chunk: b"%x\r\n%s\r\n" % (len(chunk), chunk)),
    )
    grew = _peak(worker) - before
    print(f"chunked 300 MB: {status} after {sent / MB:.0f} MB sent, +{grew / MB:.1f} MB")
    assert status == 411 and headers["connection"] == "close"
    assert "chunked uploads are not accepted" in body
    assert sent < CAP and grew < CAP / 10


def test_a_file_over_the_cap_is_stopped_at_the_cap(server, alice_cookies):
    """Content-Length within the allowance for the form's other fields, the file itself a
    little over the cap: the worker reads it up to the cap, then stops and says why."""
    port, worker = server
    before = _rss(worker)
    over = CHUNK[: 32 * 1024]  # within the 64 KiB allowance beside the file
    length = len(PART_HEAD) + CAP + len(over)
    status, headers, body, sent = _stream(
        port,
        _head(f"Content-Length: {length}\r\n{alice_cookies}"),
        [*_chunks(CAP), over],
    )
    grew = _peak(worker) - before
    print(f"a file of the cap and 32 KiB: {status}, {sent / MB:.1f} MB sent, +{grew / MB:.1f} MB")
    assert status == 413 and headers["connection"] == "close"
    assert "larger than the limit of 50.0 MB (BATCH_MAX_UPLOAD_BYTES)" in body
    assert grew < CAP / 2
