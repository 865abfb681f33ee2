"""The error model: one ``StockroomError`` class per gRPC status a service may
return, carrying the rich details (``google.rpc``) that go on the wire, and the
conversion both ways (``to_rpc_status`` on the server, ``error_from_rpc_error``
on the client)."""

from stockroom.common.errors._errors import (
    DEFAULT_DOMAIN,
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldErrors,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    PreconditionViolation,
    ResourceExhausted,
    ResourceRef,
    StockroomError,
    Unauthenticated,
    Unavailable,
    invalid_argument,
)
from stockroom.common.errors._status import (
    DETAILS_TRAILER,
    error_from_rpc_error,
    error_from_status,
    to_rpc_status,
    to_status_proto,
)

__all__ = [
    "DEFAULT_DOMAIN",
    "DETAILS_TRAILER",
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldErrors",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "PreconditionViolation",
    "ResourceExhausted",
    "ResourceRef",
    "StockroomError",
    "Unauthenticated",
    "Unavailable",
    "error_from_rpc_error",
    "error_from_status",
    "invalid_argument",
    "to_rpc_status",
    "to_status_proto",
]
