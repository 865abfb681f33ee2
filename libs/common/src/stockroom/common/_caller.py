"""Who is calling: the identity the server proved for the call being handled.

Set by the server stack for every call when clients authenticate with
certificates (mTLS); empty otherwise. Code below the servicer (request ids,
audit fields) reads it without any plumbing, as deadlines are read.
"""

from __future__ import annotations

from contextvars import ContextVar

_caller: ContextVar[str] = ContextVar("stockroom_caller", default="")


def current_caller() -> str:
    """The authenticated caller of the call being handled ("" when callers are anonymous)."""
    return _caller.get()


def set_caller(identity: str) -> object:
    return _caller.set(identity)


def reset_caller(token: object) -> None:
    _caller.reset(token)  # type: ignore[arg-type]
