"""Upload caps at every upload door (predictor/middleware/uploads.py), in process: a body whose
Content-Length is over the door's cap is refused without a byte of it being read; one
without a Content-Length is refused too; a file that turns out larger than the cap is
stopped at it, with a clear answer and nothing stored."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from predictor.models import Dataset, ModelVersion, Prediction, TrainingJob

MB = 2**20
BOUNDARY = "capboundary"
# (path, the setting of its cap, answered as JSON)
DOORS = [
    ("/api/datasets/", "DATASET_MAX_UPLOAD_BYTES", True),
    ("/train/", "DATASET_MAX_UPLOAD_BYTES", False),
    ("/admin/predictor/dataset/add/", "DATASET_MAX_UPLOAD_BYTES", False),
    ("/models/iris/batch/", "BATCH_MAX_UPLOAD_BYTES", False),
    ("/admin/predictor/modelversion/import/", "MODEL_MAX_UPLOAD_BYTES", False),
]


class CountingBody:
    """A request body that never ends: counts what is read of it, and fails the test once
    more than a megabyte is (a door that reads the body whole would read it all)."""

    def __init__(self):
        self.read_bytes = 0
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"'
            "\r\nContent-Type: text/csv\r\n\r\n"
        ).encode()

    def read(self, size=-1):
        size = MB if size is None or size < 0 else size
        self.read_bytes += size
        assert self.read_bytes <= MB, "the body is being read"
        chunk = (self.head + b"1,2,3\n" * (size // 6 + 1))[:size]
        self.head = b""
        return chunk

    def readline(self, size=-1):
        return self.read(size)


class CloseRecorder:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def _post(client, path, body, length, close):
    return client.post(
        path,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        data=b"x",  # replaced by the stream below
        **{"wsgi.input": body, "CONTENT_LENGTH": length, "mlsite.connection_close": close},
    )


def _message(response, as_json: bool) -> str:
    if as_json:
        assert response["Content-Type"] == "application/json"
        return response.json()["detail"]
    assert "text/html" in response["Content-Type"]
    return response.content.decode()


@pytest.mark.parametrize("path,setting,as_json", DOORS)
def test_an_upload_over_the_cap_is_refused_from_its_content_length_unread(
    db, path, setting, as_json
):
    body, close = CountingBody(), CloseRecorder()
    response = _post(Client(enforce_csrf_checks=True), path, body, str(300 * MB), close)
    assert response.status_code == 413
    message = _message(response, as_json)
    assert "The upload is 300.0 MB; the limit is 50.0 MB" in message and setting in message
    assert body.read_bytes == 0  # not a byte of it
    assert close.calls == 1  # the connection ends after the answer


@pytest.mark.parametrize("path,setting,as_json", DOORS)
def test_an_upload_without_a_content_length_is_refused_unread(db, path, setting, as_json):
    body, close = CountingBody(), CloseRecorder()
    response = _post(Client(), path, body, "", close)
    assert response.status_code == 411
    assert "Content-Length" in _message(response, as_json)
    assert body.read_bytes == 0 and close.calls == 1


def _big_csv(size: int) -> bytes:
    header = b"sepal_length,sepal_width,petal_length,petal_width,species\n"
    return header + b"5.1,3.5,1.4,0.2,setosa\n" * (size // 23)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "", "pw-root-123")


def test_a_file_larger_than_the_cap_is_stopped_on_the_batch_page(
    iris_version, alice, settings, monkeypatch
):
    """Content-Length within the allowance, the file itself over the cap: the file is
    counted as it is read and stopped there; the page says why and nothing is scored."""
    settings.BATCH_MAX_UPLOAD_BYTES = 4000
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/models/iris/batch/", {"file": SimpleUploadedFile("b.csv", _big_csv(20_000))}
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "larger than the limit of 4,000 bytes (BATCH_MAX_UPLOAD_BYTES)" in page
    assert "nothing was stored" in page
    assert not Prediction.objects.exists() and not TrainingJob.objects.filter(kind="batch")


@pytest.mark.parametrize(
    "path,setting,form",
    [
        ("/admin/predictor/dataset/add/", "DATASET_MAX_UPLOAD_BYTES", {"name": "big"}),
        (
            "/admin/predictor/modelversion/import/",
            "MODEL_MAX_UPLOAD_BYTES",
            {"model_name": "big", "task": "classification"},
        ),
    ],
)
def test_a_file_larger_than_the_cap_is_stopped_in_the_admin(
    superuser, settings, path, setting, form
):
    setattr(settings, setting, 4000)
    client = Client()
    client.force_login(superuser)
    upload = SimpleUploadedFile("f.bin", _big_csv(20_000))
    response = client.post(path, {**form, "file": upload})
    assert response.status_code == 413
    assert f"larger than the limit of 4,000 bytes ({setting})" in response.content.decode()
    assert not Dataset.objects.exists() and not ModelVersion.objects.exists()


def test_a_file_larger_than_the_cap_is_stopped_on_the_train_page(staff, settings):
    """A file of exactly the cap is taken (its body is larger: the other fields have room
    beside it); one byte more and it is stopped, nothing stored."""
    settings.DATASET_MAX_UPLOAD_BYTES = 4000
    client = Client()
    client.force_login(staff)
    rows = b"a,b\n" + b"1,x\n" * 999  # 4,000 bytes
    over = SimpleUploadedFile("d.csv", rows + b"2")
    response = client.post("/train/", {"upload-name": "over", "upload-file": over})
    assert response.status_code == 413
    assert "(DATASET_MAX_UPLOAD_BYTES)" in response.content.decode()
    exact = SimpleUploadedFile("d.csv", rows)
    response = client.post("/train/", {"upload-name": "exact", "upload-file": exact})
    assert response.status_code == 302
    assert list(Dataset.objects.values_list("name", "size_bytes")) == [("exact", 4000)]


def test_a_file_larger_than_the_cap_is_stopped_on_the_api(staff_client, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 4000
    upload = SimpleUploadedFile("d.csv", _big_csv(20_000))
    response = staff_client.post(
        "/api/datasets/", {"name": "big", "file": upload}, format="multipart"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The file is larger than the limit of 4,000 bytes "
        "(DATASET_MAX_UPLOAD_BYTES); nothing was stored."
    }
    assert not Dataset.objects.exists()


def test_other_multipart_bodies_have_the_request_cap(iris_version, alice, settings):
    """A page that takes no file still gets no body over REQUEST_MAX_BODY_BYTES."""
    settings.REQUEST_MAX_BODY_BYTES = 4000
    client = Client()
    client.force_login(alice)
    response = client.post("/models/iris/", {"file": SimpleUploadedFile("x", _big_csv(20_000))})
    assert response.status_code == 413
    assert "(REQUEST_MAX_BODY_BYTES)" in response.content.decode()
    assert not Prediction.objects.exists()
