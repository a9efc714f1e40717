"""The short list of service errors, shared by the bus and HTTP boundaries.

A handler raises one of these; the bus layer turns it into a NATS micro
error reply (`Nats-Service-Error-Code`), the HTTP layer into a status code,
and the bus client turns the reply back into the same exception class.
"""

from __future__ import annotations


class ServiceError(Exception):
    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    code = "bad_request"
    http_status = 400


class Unauthorized(ServiceError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ServiceError):
    code = "forbidden"
    http_status = 403


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


class TooManyRequests(ServiceError):
    code = "too_many_requests"
    http_status = 429


class Unavailable(ServiceError):
    code = "unavailable"
    http_status = 503


ERRORS_BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls
    for cls in (ServiceError, BadRequest, Unauthorized, Forbidden, NotFound, Conflict, TooManyRequests, Unavailable)
}


def error_from_code(code: str, message: str) -> ServiceError:
    return ERRORS_BY_CODE.get(code, ServiceError)(message)
