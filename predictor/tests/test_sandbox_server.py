"""Under a real gunicorn: hostile model files imported through the admin leave every worker
running (the sandbox's child crashes, never the server), and answer with their reason."""

import http.client
import io
import uuid
from pathlib import Path

import joblib

from predictor.models import ModelVersion
from predictor.tests import hostile_models
from predictor.tests.test_upload_server import CSRF, gunicorn, session_cookies, workers

IMPORT = "/admin/predictor/modelversion/import/"


class Segfault:
    def __reduce__(self):
        return (exec, ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",))


def _pickle(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _multipart(fields: dict, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.skops"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _import(port: int, cookies: str, data: bytes) -> tuple[int, str]:
    body, content_type = _multipart(
        {
            "model_name": "outside",
            "task": "classification",
            "target": "y",
            "features": hostile_models.FEATURES,
            "csrfmiddlewaretoken": CSRF,
        },
        data,
    )
    cookie = cookies.split("\r\n")[0].removeprefix("Cookie: ")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(
        "POST",
        IMPORT,
        body,
        {"Content-Type": content_type, "Cookie": cookie, "X-CSRFToken": CSRF},
    )
    answer = conn.getresponse()
    return answer.status, answer.read().decode().replace("&#x27;", "'")


def test_hostile_imports_leave_every_worker_running(transactional_db, tmp_path, django_user_model):
    admin = django_user_model.objects.create_superuser("chief", "chief@example.org", "pw-chief")
    cookies = session_cookies(admin)
    files = [
        (hostile_models.calibrated_wild_tree(), "out of range"),
        (hostile_models.sparse_coef(), "malformed sparse matrix"),
        (hostile_models.file_reader()[0], "only input='content'"),
        (_pickle(Segfault()), "crashed with signal SIGSEGV"),
    ]
    with gunicorn(tmp_path, ALLOW_PICKLE_IMPORT="true") as (port, master):
        before = workers(master)
        for data, says in files:
            status, page = _import(port, cookies, data)
            assert status == 200 and says in page, page[-2000:]
        assert workers(master) == before  # the same worker processes, none restarted
        assert all(Path(f"/proc/{pid}").exists() for pid in before)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    assert not ModelVersion.objects.exists()
