"""The error model: one ``StockroomError`` class per gRPC status a service may
return, carrying the details (ErrorInfo, field violations, preconditions,
resources, RetryInfo) that go on the wire as ``google.rpc`` details.

Plain Python, no grpc: domain code raises these. The server stack converts
them to a rich status and the client stack back to the same class (private
``_status``), so callers catch what the server raised.
"""

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

__all__ = [
    "DEFAULT_DOMAIN",
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
    "invalid_argument",
]
