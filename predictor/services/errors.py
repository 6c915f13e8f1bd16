"""Domain exceptions raised by services; each door maps them to its own kind of error."""


class ServiceError(Exception):
    """Base class: a request the service refuses, with a message a person can act on."""

    status_code = 400

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ServiceError):
    """The input is malformed or does not match what is expected (400)."""


class LoginRequired(ServiceError):
    """The resource needs a logged-in user (401)."""

    status_code = 401


class Forbidden(ServiceError):
    """Logged in, but not allowed (403)."""

    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """The registry is not in a state that allows the request (409)."""

    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class TooManyJobs(ServiceError):
    """The user already has their cap of queued and running jobs (429)."""

    status_code = 429


class ArtifactIntegrityError(ServiceError):
    """An artifact cannot be loaded: missing, outside the store, hash mismatch, or a type
    outside the allow-list. `fault` says which, in a few words."""

    status_code = 503

    def __init__(self, message, *, fault: str, **details):
        super().__init__(message, fault=fault, **details)
        self.fault = fault


class VersionUnavailable(ServiceError):
    """A version cannot serve because its artifact cannot be loaded (503); other versions
    and models are not affected."""

    status_code = 503


class ServiceUnavailable(ServiceError):
    """A dependency (the database) does not answer; try again later (503, Retry-After)."""

    status_code = 503
    retry_after = 5
