"""How the command fails: one message on stderr with the reason and a hint, and an exit code
that tells scripts what kind of failure it was (documented in libs/cli/README.md)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from stockroom.common.errors import StockroomError

EXIT_OK = 0
EXIT_REFUSED = 1  # the service refused: FAILED_PRECONDITION, ALREADY_EXISTS, ABORTED, ...
EXIT_USAGE = 2  # bad input: the command line, or INVALID_ARGUMENT / OUT_OF_RANGE from the service
EXIT_NOT_FOUND = 3  # NOT_FOUND
EXIT_UNREACHABLE = 4  # not reachable, not answering in time, shedding load, breaker open
EXIT_DENIED = 5  # PERMISSION_DENIED, UNAUTHENTICATED, TLS files unreadable
EXIT_SERVER = 6  # INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED: a server fault
EXIT_INTERRUPTED = 130  # Ctrl-C

_EXIT_BY_CODE = {
    "INVALID_ARGUMENT": EXIT_USAGE,
    "OUT_OF_RANGE": EXIT_USAGE,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "UNAVAILABLE": EXIT_UNREACHABLE,
    "DEADLINE_EXCEEDED": EXIT_UNREACHABLE,
    "RESOURCE_EXHAUSTED": EXIT_UNREACHABLE,
    "CANCELLED": EXIT_UNREACHABLE,
    "PERMISSION_DENIED": EXIT_DENIED,
    "UNAUTHENTICATED": EXIT_DENIED,
    "INTERNAL": EXIT_SERVER,
    "UNKNOWN": EXIT_SERVER,
    "DATA_LOSS": EXIT_SERVER,
    "UNIMPLEMENTED": EXIT_SERVER,
}


@dataclass
class Failure(Exception):
    """What went wrong, why, what to try, and the exit code."""

    message: str
    exit_code: int
    details: tuple[str, ...] = ()
    hint: str = ""

    def lines(self) -> list[str]:
        lines = [f"error: {self.message}", *(f"  {d}" for d in self.details)]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return lines


def from_service_error(error: StockroomError, service: str, target: str) -> Failure:
    """A typed error the service (or the client library) raised."""
    details = [f"{v.field}: {v.description} ({v.reason})" for v in error.field_violations]
    details += [f"{v.subject}: {v.description} ({v.type})" for v in error.precondition_violations]
    code = _EXIT_BY_CODE.get(error.code, EXIT_REFUSED)
    if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") and error.reason == error.code:
        # Nothing from the service itself: it never answered.
        message = f"{service} at {target} is not reachable ({error.code}): {error.message}"
    else:
        message = f"{service} at {target} answered {error.code} {error.reason}: {error.message}"
    return Failure(
        message,
        code,
        tuple(details),
        _hint(error.code, error.reason, service, target),
    )


def from_rpc_error(error: grpc.aio.AioRpcError, service: str, target: str) -> Failure:
    """A bare gRPC failure (streams, and failures before the service answered)."""
    code = error.code().name
    return Failure(
        f"{service} at {target}: {code}: {error.details() or 'no details'}",
        _EXIT_BY_CODE.get(code, EXIT_REFUSED),
        hint=_hint(code, "", service, target),
    )


def _hint(code: str, reason: str, service: str, target: str) -> str:
    prefix = service.upper()
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or reason == "CIRCUIT_OPEN":
        return (
            f"is {service} running at {target}? Start both services with `make run`"
            f" (or `python -m stockroom.{service}`), or point --target / {prefix}_TARGET"
            " at a running one; with TLS add --tls-ca (STOCKROOM_TLS_CA)."
        )
    if code == "RESOURCE_EXHAUSTED":
        return f"{service} is overloaded; try again in a moment."
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return "check --tls-cert/--tls-key (STOCKROOM_TLS_CERT/KEY): the server decides by them."
    if code == "INVALID_ARGUMENT":
        return "fix the fields named above; --help shows each argument's form."
    if code in ("INTERNAL", "UNKNOWN"):
        return f"a server fault: the message carries a trace id to find in {service}'s logs."
    return ""
