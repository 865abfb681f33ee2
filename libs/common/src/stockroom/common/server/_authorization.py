"""Who may change things: mutating methods only for callers on an allowlist.

The caller's identity is the one its client certificate proves (mTLS): the
certificate's subject alternative names and common name, as grpc's auth
context reports them. A method counts as mutating unless it is declared
read-only (``ServiceRegistration.read_only_methods`` or the proto's
``option idempotency_level = NO_SIDE_EFFECTS``): forgetting to declare a read
denies a call, forgetting to declare a write would let anyone make it.

Metadata credentials (tokens) are not supported: without a way to issue and
rotate secrets they would be a password in a config file, while mTLS already
gives every replica a verified identity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.errors._errors import PermissionDenied, Unauthenticated

_IDENTITY_KEYS = ("x509_subject_alternative_name", "x509_common_name")


def peer_identities(context: Context) -> frozenset[str]:
    """The names the caller's verified client certificate carries (empty without mTLS)."""
    auth = context.auth_context() or {}
    return frozenset(
        value.decode() if isinstance(value, bytes) else str(value)
        for key in _IDENTITY_KEYS
        for value in auth.get(key, ())
    )


class MutationAuthorizer(AroundCallInterceptor):
    """Lets a mutating call through only when its caller is in ``allowed_callers``."""

    def __init__(self, allowed_callers: frozenset[str], read_only_methods: frozenset[str]) -> None:
        self.allowed_callers = allowed_callers
        self.read_only_methods = read_only_methods

    def applies_to(self, method: str) -> bool:
        return method not in self.read_only_methods and not method.startswith(
            ("/grpc.health.v1.Health/", "/grpc.reflection.")
        )

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        identities = peer_identities(context)
        if not identities:
            raise Unauthenticated(
                f"{method} changes data: call it with a client certificate",
                reason="CLIENT_CERTIFICATE_REQUIRED",
            )
        if not identities & self.allowed_callers:
            raise PermissionDenied(
                f"{method} changes data and this caller may not call it",
                reason="CALLER_NOT_ALLOWED",
                metadata={"method": method, "caller": ",".join(sorted(identities))},
            )
        yield
