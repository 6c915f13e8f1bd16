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


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """The registry is not in a state that allows the request (409)."""

    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class ArtifactIntegrityError(ServiceError):
    """An artifact file is missing, outside the store, or its hash does not match."""

    status_code = 500
