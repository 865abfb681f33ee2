"""The error model every Stockroom service raises and every client catches.

Domain code raises these; it never imports grpc. The common library maps each
class to one gRPC status code with ``google.rpc`` details, once, centrally
(``stockroom.common.errors``), and turns those details back into the same
classes on the client side. ``reason`` is a stable UPPER_SNAKE identifier
callers may branch on; ``message`` is for humans and may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_DOMAIN = "stockroom"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field in a request (``google.rpc.BadRequest.FieldViolation``)."""

    field: str
    description: str
    reason: str = ""


@dataclass(frozen=True)
class PreconditionViolation:
    """One unmet precondition (``google.rpc.PreconditionFailure.Violation``)."""

    type: str
    subject: str
    description: str


@dataclass(frozen=True)
class ResourceRef:
    """The resource an error is about (``google.rpc.ResourceInfo``)."""

    resource_type: str
    resource_name: str
    description: str = ""


class StockroomError(Exception):
    """Base of every error a service means its caller to see.

    ``code`` names the gRPC status code (as ``grpc.StatusCode`` names it) so
    this module stays free of grpc imports.
    """

    code: str = "UNKNOWN"
    default_reason: str = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        domain: str = DEFAULT_DOMAIN,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        precondition_violations: Sequence[PreconditionViolation] = (),
        resource: ResourceRef | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.precondition_violations: tuple[PreconditionViolation, ...] = tuple(
            precondition_violations
        )
        self.resource = resource
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class InvalidArgument(StockroomError):
    """The request itself is wrong; retrying it unchanged never helps."""

    code = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"


class NotFound(StockroomError):
    """A resource the request names does not exist."""

    code = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(StockroomError):
    """The resource the request would create exists already."""

    code = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(StockroomError):
    """The system is not in a state that allows the request (e.g. not enough stock)."""

    code = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"


class Aborted(StockroomError):
    """A concurrency conflict (etag mismatch, serialization failure); retry the whole
    read-modify-write at a higher level."""

    code = "ABORTED"
    default_reason = "ABORTED"


class OutOfRange(StockroomError):
    """A value past the valid range (e.g. a page token past the end)."""

    code = "OUT_OF_RANGE"
    default_reason = "OUT_OF_RANGE"


class PermissionDenied(StockroomError):
    """The caller is known but may not do this."""

    code = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(StockroomError):
    """The caller could not be identified."""

    code = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(StockroomError):
    """A limit was hit (load shedding, quota); ``retry_after_s`` says when to retry."""

    code = "RESOURCE_EXHAUSTED"
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(StockroomError):
    """The service or one of its dependencies is down; safe to retry later."""

    code = "UNAVAILABLE"
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(StockroomError):
    """The call's deadline passed before the work finished."""

    code = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_EXCEEDED"


class Cancelled(StockroomError):
    """The caller cancelled the call."""

    code = "CANCELLED"
    default_reason = "CANCELLED"


class Internal(StockroomError):
    """A bug or an unexpected failure; details stay in the server's logs."""

    code = "INTERNAL"
    default_reason = "INTERNAL"


def invalid_argument(
    field_name: str,
    description: str,
    *,
    reason: str = "INVALID_FIELD",
    domain: str = DEFAULT_DOMAIN,
) -> InvalidArgument:
    """Shorthand for the common case of one bad field."""
    return InvalidArgument(
        f"{field_name}: {description}",
        reason=reason,
        domain=domain,
        field_violations=[FieldViolation(field_name, description, reason)],
    )


@dataclass
class FieldErrors:
    """Collects every violation in a request so the caller sees them all at once."""

    domain: str = DEFAULT_DOMAIN
    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, description: str, reason: str = "INVALID_FIELD") -> None:
        self.violations.append(FieldViolation(field_name, description, reason))

    def raise_if_any(self, message: str = "the request has invalid fields") -> None:
        if self.violations:
            summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
            raise InvalidArgument(
                f"{message}: {summary}",
                reason="INVALID_REQUEST",
                domain=self.domain,
                field_violations=self.violations,
            )
