"""Domain errors to ``google.rpc.Status`` and back: the one place the mapping lives.

A server turns a ``StockroomError`` into a status with rich details
(``to_rpc_status``); a client turns a failed call's status back into the same
typed error (``error_from_status``), so both sides of a call speak in
``FailedPrecondition``, ``NotFound`` ... rather than raw codes. The details
travel in the ``grpc-status-details-bin`` trailer, as grpcio-status encodes
them.
"""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from stockroom.common.errors import _errors as errors
from stockroom.common.errors._errors import (
    FieldViolation,
    PreconditionViolation,
    ResourceRef,
    StockroomError,
)

DETAILS_TRAILER = "grpc-status-details-bin"
M = TypeVar("M", bound=Message)

# Every gRPC code has one error class; UNKNOWN (and anything unrecognised)
# becomes the base class with code UNKNOWN.
_CLASS_BY_CODE: dict[str, type[StockroomError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.AlreadyExists,
        errors.FailedPrecondition,
        errors.Aborted,
        errors.OutOfRange,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.ResourceExhausted,
        errors.Unavailable,
        errors.DeadlineExceeded,
        errors.Cancelled,
        errors.Internal,
    )
}


def to_rpc_status(error: StockroomError) -> grpc.Status:
    """The gRPC status (code, message, details trailer) that carries ``error``."""
    return rpc_status.to_status(to_status_proto(error))


def to_status_proto(error: StockroomError) -> status_pb2.Status:
    details: list[any_pb2.Any] = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=error.domain, metadata=error.metadata
            )
        )
    ]
    if error.field_violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description, reason=v.reason
                        )
                        for v in error.field_violations
                    ]
                )
            )
        )
    if error.precondition_violations:
        details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=v.type, subject=v.subject, description=v.description
                        )
                        for v in error.precondition_violations
                    ]
                )
            )
        )
    if error.resource is not None:
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource.resource_type,
                    resource_name=error.resource.resource_name,
                    description=error.resource.description,
                )
            )
        )
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(error.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=_code_number(error.code), message=error.message, details=details)


def error_from_status(
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: grpc.aio.Metadata | tuple[tuple[str, str | bytes], ...] | None,
) -> StockroomError:
    """Rebuild the typed error a server raised from a failed call's status.

    Works for any server: without a details trailer the error still has the
    right class, the message, and the code's name as its reason.
    """
    cls = _CLASS_BY_CODE.get(code.name, StockroomError)
    proto = _details_proto(trailing_metadata)
    if proto is None:
        error = cls(message, reason=code.name)
        error.code = code.name
        return error
    reason, domain, metadata = code.name, errors.DEFAULT_DOMAIN, {}
    field_violations: list[FieldViolation] = []
    precondition_violations: list[PreconditionViolation] = []
    resource: ResourceRef | None = None
    retry_after_s: float | None = None
    for detail in proto.details:
        if detail.TypeName() == _type_name(error_details_pb2.ErrorInfo):
            info = _unpack(detail, error_details_pb2.ErrorInfo)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.TypeName() == _type_name(error_details_pb2.BadRequest):
            bad = _unpack(detail, error_details_pb2.BadRequest)
            field_violations += [
                FieldViolation(v.field, v.description, v.reason) for v in bad.field_violations
            ]
        elif detail.TypeName() == _type_name(error_details_pb2.PreconditionFailure):
            failure = _unpack(detail, error_details_pb2.PreconditionFailure)
            precondition_violations += [
                PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations
            ]
        elif detail.TypeName() == _type_name(error_details_pb2.ResourceInfo):
            info_r = _unpack(detail, error_details_pb2.ResourceInfo)
            resource = ResourceRef(info_r.resource_type, info_r.resource_name, info_r.description)
        elif detail.TypeName() == _type_name(error_details_pb2.RetryInfo):
            retry = _unpack(detail, error_details_pb2.RetryInfo)
            retry_after_s = retry.retry_delay.ToNanoseconds() / 1e9
    error = cls(
        message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=field_violations,
        precondition_violations=precondition_violations,
        resource=resource,
        retry_after_s=retry_after_s,
    )
    error.code = code.name
    return error


def error_from_rpc_error(error: grpc.aio.AioRpcError) -> StockroomError:
    """The typed error behind a failed ``grpc.aio`` call."""
    return error_from_status(error.code(), error.details() or "", error.trailing_metadata())


def _details_proto(
    trailing_metadata: grpc.aio.Metadata | tuple[tuple[str, str | bytes], ...] | None,
) -> status_pb2.Status | None:
    for key, value in trailing_metadata or ():
        if key == DETAILS_TRAILER and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer from a foreign server: ignore it
                return None
    return None


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _unpack(detail: any_pb2.Any, kind: type[M]) -> M:
    message = kind()
    detail.Unpack(message)
    return message


def _type_name(kind: type[Message]) -> str:
    return str(kind.DESCRIPTOR.full_name)


def _code_number(code_name: str) -> int:
    return int(code_pb2.Code.Value(code_name))
