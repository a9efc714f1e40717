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


# Storage refusals that protocols answer with their own codes (IMAP [TRYCREATE],
# [OVERQUOTA]; SMTP 452/552), so they need to survive the trip over the bus.


class MailboxNotFound(NotFound):
    code = "no_such_mailbox"


class MailboxExists(Conflict):
    code = "mailbox_exists"


class InvalidName(BadRequest):
    code = "invalid_name"


class OverQuota(ServiceError):
    code = "over_quota"
    http_status = 507


class BlobMissing(ServiceError):
    """The blob a request names is not in the blob store (yet, or any more)."""

    code = "no_such_blob"
    http_status = 409


ERRORS_BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        ServiceError,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooManyRequests,
        Unavailable,
        MailboxNotFound,
        MailboxExists,
        InvalidName,
        OverQuota,
        BlobMissing,
    )
}


def error_from_code(code: str, message: str) -> ServiceError:
    return ERRORS_BY_CODE.get(code, ServiceError)(message)
