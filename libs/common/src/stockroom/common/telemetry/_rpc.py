"""What the client and server sides record about one RPC: its names, its final status,
and the ErrorInfo behind a failure.

Span status follows the OpenTelemetry conventions for gRPC: on a client span
every code but OK is an error; on a server span only the codes that mean the
server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
UNAVAILABLE, DATA_LOSS) are, so a caller's mistake (INVALID_ARGUMENT,
NOT_FOUND, ...) does not turn the server's error rate red. Either way the
span carries the code and the ErrorInfo reason and domain as attributes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from stockroom.common.errors._errors import StockroomError
from stockroom.common.errors._status import error_from_rpc_error
from stockroom.common.telemetry import _names as names

SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_CODES_BY_NAME = {code.name: code for code in grpc.StatusCode}


def span_name(method: str) -> str:
    """``/pkg.Service/Method`` as the conventions name its spans: ``pkg.Service/Method``."""
    return method.lstrip("/")


def rpc_attributes(method: str) -> dict[str, AttributeValue]:
    service, _, name = span_name(method).partition("/")
    return {names.RPC_SYSTEM: "grpc", names.RPC_SERVICE: service, names.RPC_METHOD: name}


@dataclass(frozen=True)
class Outcome:
    """How a call ended: its code and, for a failure, the ErrorInfo and message."""

    code: grpc.StatusCode
    reason: str = ""
    domain: str = ""
    message: str = ""

    @classmethod
    def of_error(cls, error: BaseException) -> Outcome:
        """The outcome a caller sees for ``error`` raised by (or inside) a call."""
        if isinstance(error, grpc.aio.AioRpcError):
            error = error_from_rpc_error(error)
        if isinstance(error, StockroomError):
            return cls(
                _CODES_BY_NAME.get(error.code, grpc.StatusCode.UNKNOWN),
                error.reason,
                error.domain,
                error.message,
            )
        if isinstance(error, asyncio.CancelledError):
            return cls(grpc.StatusCode.CANCELLED, message="cancelled")
        return cls(grpc.StatusCode.UNKNOWN, message=f"{type(error).__name__}: {error}")

    @property
    def code_number(self) -> int:
        number: int = self.code.value[0]
        return number

    def record(self, span: trace.Span, *, server: bool) -> None:
        """Put the code, the ErrorInfo and the status on ``span``."""
        span.set_attribute(names.RPC_GRPC_STATUS_CODE, self.code_number)
        if self.code is grpc.StatusCode.OK:
            return
        if self.reason:
            span.set_attributes({names.ERROR_REASON: self.reason, names.ERROR_DOMAIN: self.domain})
        if server and self.code not in SERVER_FAULTS:
            return
        label = f"{self.code.name} {self.reason}" if self.reason else self.code.name
        span.set_status(Status(StatusCode.ERROR, f"{label}: {self.message}"))

    def metric_attributes(self, method: str) -> dict[str, AttributeValue]:
        return {**rpc_attributes(method), names.RPC_GRPC_STATUS_CODE: self.code_number}


OK = Outcome(grpc.StatusCode.OK)
