"""One client policy for deadlines, retries, retry budgets and circuit breaking together.

``connect(target, policy)`` turns a ``Policy`` into the interceptors of a
channel; the pieces read the same object, so a retry never outlives the
deadline, the budget and the breaker see the same attempts, and a method's
idempotency decides whether it may be retried at all.

Per-method settings go in ``methods``, keyed by full method name
(``/stockroom.inventory.v1.InventoryService/CheckAvailability``) or by
service (``stockroom.inventory.v1.InventoryService``); a method's entry wins
over its service's, which wins over the policy's defaults.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import Message

from stockroom.common.client._breaker import BreakerPolicy

_SAFE_LEVELS = frozenset(
    {
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        descriptor_pb2.MethodOptions.IDEMPOTENT,
    }
)


@dataclass(frozen=True)
class MethodPolicy:
    """Overrides for one method or service; None keeps what the next level says."""

    timeout_s: float | None = None
    # True: safe to send twice. None: ask the proto (``option idempotency_level``).
    idempotent: bool | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts are retried (AIP-194, gRFC A6).

    Only UNAVAILABLE is retried by default (AIP-194): it promises the request
    was not processed or is safe to repeat. RESOURCE_EXHAUSTED is retried only
    when the server sent RetryInfo, i.e. said when to come back (the rule the
    OTLP exporters follow). DEADLINE_EXCEEDED, CANCELLED and INVALID_ARGUMENT
    never are. Three attempts and 50 ms doubling to at most 1 s, with full
    jitter, spread a burst of retries over time instead of synchronising them.
    """

    max_attempts: int = 3
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    backoff_multiplier: float = 2.0
    retryable_codes: frozenset[str] = frozenset({"UNAVAILABLE"})
    # gRFC A6 retry throttling: a bucket of 10 tokens, 0.1 back per success.
    budget_max_tokens: float = 10.0
    budget_token_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if retry_forbidden := self.retryable_codes & NEVER_RETRIED:
            raise ValueError(f"never retryable: {sorted(retry_forbidden)}")

    def backoff_s(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max, initial * multiplier^(n-1))] for retry n >= 1."""
        ceiling = min(
            self.max_backoff_s,
            self.initial_backoff_s * self.backoff_multiplier ** (retry_number - 1),
        )
        return rand() * ceiling


# Retrying these is always wrong: the deadline is gone, the caller gave up, or the
# request itself is bad.
NEVER_RETRIED = frozenset({"DEADLINE_EXCEEDED", "CANCELLED", "INVALID_ARGUMENT"})


@dataclass(frozen=True)
class Policy:
    """Everything a channel needs to know to call one downstream safely.

    ``timeout_s`` is the deadline of a call whose caller set none: 2 s, since
    an internal unary call that has not answered by then is stuck, and a
    caller that needs longer says so. ``deadline_margin_s`` is kept back from
    a propagated deadline for the server's own reply after its downstream
    call returns. ``retry=None`` or ``breaker=None`` turn those pieces off.
    """

    timeout_s: float = 2.0
    deadline_margin_s: float = 0.02
    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy | None = field(default_factory=BreakerPolicy)
    methods: Mapping[str, MethodPolicy] = field(default_factory=dict)

    def for_method(self, method: str) -> MethodPolicy:
        """The merged settings for ``method`` ("/package.Service/Method")."""
        service = method.lstrip("/").partition("/")[0]
        merged = MethodPolicy(timeout_s=self.timeout_s)
        for key in (service, method):
            override = self.methods.get(key)
            if override is not None:
                merged = MethodPolicy(
                    timeout_s=override.timeout_s
                    if override.timeout_s is not None
                    else merged.timeout_s,
                    idempotent=override.idempotent
                    if override.idempotent is not None
                    else merged.idempotent,
                )
        return merged

    def timeout_for(self, method: str) -> float:
        timeout_s = self.for_method(method).timeout_s
        return self.timeout_s if timeout_s is None else timeout_s

    def is_idempotent(self, method: str) -> bool:
        """Declared safe to repeat, here or by the proto's ``idempotency_level``."""
        declared = self.for_method(method).idempotent
        return declared_idempotent(method) if declared is None else declared


def declared_idempotent(method: str) -> bool:
    """True when the proto marks the method NO_SIDE_EFFECTS or IDEMPOTENT.

    Looks in the default descriptor pool, which holds every generated module
    the process has imported (a client has imported its stub). Only found
    methods are cached: one looked up before its module was imported is
    looked up again.
    """
    level = _idempotency_levels.get(method)
    if level is None:
        full_name = method.lstrip("/").replace("/", ".")
        try:
            descriptor = descriptor_pool.Default().FindMethodByName(full_name)
        except KeyError:
            return False
        level = _idempotency_levels[method] = descriptor.GetOptions().idempotency_level
    return level in _SAFE_LEVELS


_idempotency_levels: dict[str, int] = {}


def carries_request_id(request: object) -> bool:
    """True for a request with a non-empty ``request_id`` (AIP-155): the server
    deduplicates it, so sending it twice applies it once."""
    if not isinstance(request, Message):
        return False
    if "request_id" not in request.DESCRIPTOR.fields_by_name:
        return False
    return bool(getattr(request, "request_id"))  # noqa: B009
