"""Who may change things: mutating methods only for callers on an allowlist.

The caller's identity is the one its client certificate proves (mTLS): the
certificate's subject alternative names, or its common name only when it has
no SAN (RFC 6125: a certificate with SANs names nothing by its CN, so one with
SAN=intruder and CN=pricing is "intruder", never "pricing"). A method counts
as mutating unless it is declared
read-only (``ServiceRegistration.read_only_methods`` or the proto's
``option idempotency_level = NO_SIDE_EFFECTS``): forgetting to declare a read
denies a call, forgetting to declare a write would let anyone make it.

Metadata credentials (tokens) are not supported: without a way to issue and
rotate secrets they would be a password in a config file, while mTLS already
gives every replica a verified identity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from stockroom.common._caller import reset_caller, set_caller
from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.errors._errors import PermissionDenied, Unauthenticated

_SAN, _CN = "x509_subject_alternative_name", "x509_common_name"


def peer_identities(context: Context) -> frozenset[str]:
    """The names the caller's verified client certificate proves (empty without mTLS):
    its SANs, or its CN when it has no SAN."""
    auth = context.auth_context() or {}
    names = auth.get(_SAN) or auth.get(_CN) or ()
    return frozenset(value.decode() if isinstance(value, bytes) else str(value) for value in names)


def caller_identity(context: Context) -> str:
    """One string naming the caller: its certificate's identities, else its address."""
    identities = peer_identities(context)
    if identities:
        return ",".join(sorted(identities))
    peer = context.peer() or ""
    host = peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer
    return f"peer:{host}"


class CallerInterceptor(AroundCallInterceptor):
    """Publishes the certificate-proven caller of each call (``current_caller``), so a
    request id can belong to its caller."""

    def applies_to(self, method: str) -> bool:
        return not method.startswith(("/grpc.health.v1.Health/", "/grpc.reflection."))

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        token = set_caller(",".join(sorted(peer_identities(context))))
        try:
            yield
        finally:
            with suppress(ValueError):  # a stream closed from another context
                reset_caller(token)


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
