"""Upload caps, one per door: a multipart body is refused from its `Content-Length` before
any of it is read, and what is read is counted and stopped at the cap.

The doors and their caps (settings, in bytes):

- `POST /api/datasets/`, the train page's dataset upload, the admin's dataset add:
  `DATASET_MAX_UPLOAD_BYTES`;
- the batch page: `BATCH_MAX_UPLOAD_BYTES`;
- the admin's model import: `MODEL_MAX_UPLOAD_BYTES`;
- any other multipart body: `REQUEST_MAX_BODY_BYTES`.

`Content-Length` is trusted for the refusal only with `FORM_ALLOWANCE` on top (the form's
other fields and the multipart framing travel in the same body); the file itself is then
counted as Django reads it (`CappedUploadHandler`), so a file of the cap and a bit, or a
body an ASGI server read whatever its `Content-Length` said, stops at the cap. What passes
is held in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE and spooled to a temporary file beyond
(Django's own handlers, after this one). A multipart body without `Content-Length`
(chunked) reaches Django as an empty form: it is refused with 411 rather than answered as
if no file had been sent.

Refusals answer before the body is read (JSON under /api/ and /v2/, the site's error page
elsewhere) and end the connection after the answer (`close_connection`), so a client
still sending is not left waiting. The middleware sits before any that reads
`request.POST` (CSRF does).
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.urls import Resolver404, resolve

from predictor.web.responses import close_connection, error_response

UPLOAD_DOORS = {
    "dataset-list": "DATASET_MAX_UPLOAD_BYTES",
    "train-page": "DATASET_MAX_UPLOAD_BYTES",
    "admin:predictor_dataset_add": "DATASET_MAX_UPLOAD_BYTES",
    "batch-page": "BATCH_MAX_UPLOAD_BYTES",
    "admin:predictor_modelversion_import": "MODEL_MAX_UPLOAD_BYTES",
}
# Room in a body for what travels beside the file: the other fields, the multipart framing.
FORM_ALLOWANCE = 64 * 1024
BODY_METHODS = ("POST", "PUT", "PATCH")


def megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size:,} bytes"


def upload_cap(path: str) -> tuple[int, str]:
    """The cap (bytes) of a multipart body sent to `path`, and the setting that sets it."""
    try:
        view_name = resolve(path).view_name
    except Resolver404:
        view_name = ""
    setting = UPLOAD_DOORS.get(view_name, "REQUEST_MAX_BODY_BYTES")
    return getattr(settings, setting), setting


class CappedUploadHandler(FileUploadHandler):
    """Counts the bytes of a request's files as they are read and stops the upload past the
    cap: nothing more of the body is read, the partial file is dropped, and `refused` says
    so (the middleware answers 413)."""

    def __init__(self, request, *, limit: int, setting: str):
        super().__init__(request)
        self.limit = limit
        self.setting = setting
        self.received = 0
        self.refused = False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.refused = True
            raise StopUpload(connection_reset=True)
        return raw_data  # on to the handlers that store it

    def file_complete(self, file_size):
        return None  # stored by the next handler

    def message(self) -> str:
        return (
            f"The file is larger than the limit of {megabytes(self.limit)} ({self.setting}); "
            "nothing was stored."
        )


class UploadLimitMiddleware:
    """Refuses a multipart body over its door's cap from `Content-Length` (413) or without
    one (411), before it is read; counts the files of the others as they are read."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.content_type != "multipart/form-data" or request.method not in BODY_METHODS:
            return self.get_response(request)
        limit, setting = upload_cap(request.path_info)
        raw = request.META.get("CONTENT_LENGTH")
        if not raw:
            return _refuse(
                request,
                "Send the upload with a Content-Length header; chunked uploads are not "
                f"accepted (the limit is {megabytes(limit)}, {setting}).",
                411,
            )
        try:
            length = int(raw)
        except ValueError:
            return _refuse(request, "Invalid Content-Length header.", 400)
        if length > limit + FORM_ALLOWANCE:
            return _refuse(
                request,
                f"The upload is {megabytes(length)}; the limit is {megabytes(limit)} ({setting}).",
                413,
            )
        handler = CappedUploadHandler(request, limit=limit, setting=setting)
        request.upload_handlers.insert(0, handler)
        response = self.get_response(request)
        if handler.refused:
            # The door saw a form without its file; the person is told why instead.
            return _refuse(request, handler.message(), 413)
        return response


def _refuse(request, message: str, status: int):
    close_connection(request)
    return error_response(request, message, status)
