"""Retries that cannot make an outage worse: safe methods only, budgeted, within the deadline.

An attempt is retried only when all of these hold:

- its status is retryable (``RetryPolicy.retryable_codes``, or RESOURCE_EXHAUSTED
  with RetryInfo), and it is not a breaker's CIRCUIT_OPEN;
- the method is idempotent (``Policy.is_idempotent``) or the request carries a
  ``request_id`` the server deduplicates;
- attempts are left (``max_attempts``) and the per-downstream ``RetryBudget``
  allows one more;
- the pause (the server's RetryInfo if it sent one, else full-jitter backoff)
  ends before the call's deadline.

Each attempt carries ``stockroom-attempt`` metadata from the second on, and
each decision is an event on the current span and a log line. grpc-core's own
retries stay off (``grpc.enable_retries=0`` in ``client.CHANNEL_OPTIONS``), so
attempts never multiply.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from stockroom.common.client import _spans as spans
from stockroom.common.client._budget import RetryBudget
from stockroom.common.client._deadlines import method_name
from stockroom.common.client._policy import Policy, RetryPolicy, carries_request_id
from stockroom.common.errors._errors import StockroomError

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.client")

ATTEMPT_METADATA = "stockroom-attempt"
CIRCUIT_OPEN = "CIRCUIT_OPEN"


class RetryInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Runs a unary call's attempts under the policy; returns the last attempt's call."""

    def __init__(
        self,
        policy: Policy,
        budget: RetryBudget,
        *,
        target: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
        self._budget = budget
        self._target = target
        self._sleep = sleep
        self._rand = rand

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        retry = self._policy.retry
        if retry is None:
            return await continuation(client_call_details, request)
        method = method_name(client_call_details)
        timeout_s = client_call_details.timeout
        deadline_at = None if timeout_s is None else time.monotonic() + timeout_s
        repeatable = self._policy.is_idempotent(method) or carries_request_id(request)
        attempt = 1
        while True:
            spans.set_attributes({spans.ATTEMPT: attempt})
            call = await continuation(
                _attempt_details(client_call_details, attempt, deadline_at), request
            )
            try:
                await call
            except StockroomError as error:
                delay_s = self._delay_before_retry(
                    retry, error, method, attempt, repeatable, deadline_at
                )
                if delay_s is None:
                    return call
            else:
                self._budget.record_success()
                return call
            await self._sleep(delay_s)
            attempt += 1

    def _delay_before_retry(
        self,
        retry: RetryPolicy,
        error: StockroomError,
        method: str,
        attempt: int,
        repeatable: bool,
        deadline_at: float | None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up with this error."""
        if not retryable(retry, error):
            return None
        self._budget.record_failure()
        pushback = error.retry_after_s is not None
        delay_s = (
            error.retry_after_s
            if error.retry_after_s is not None
            else retry.backoff_s(attempt, self._rand)
        )
        stop = None
        if not repeatable:
            stop = "not_idempotent"
        elif attempt >= retry.max_attempts:
            stop = "attempts_exhausted"
        elif delay_s < 0:
            stop = "server_refused_retry"  # negative pushback means "do not retry" (gRFC A6)
        elif not self._budget.allows_retry():
            stop = "budget_exhausted"
        elif deadline_at is not None and time.monotonic() + delay_s >= deadline_at:
            stop = "deadline"
        facts: dict[str, Any] = {
            spans.RPC_METHOD: method,
            spans.ATTEMPT: attempt,
            spans.RETRY_REASON: f"{error.code}/{error.reason}",
        }
        if stop is not None:
            spans.add_event(spans.EVENT_RETRY_STOPPED, {**facts, spans.RETRY_STOPPED: stop})
            logger.debug("not retrying", extra={**_log_fields(facts), "stop": stop})
            return None
        facts |= {spans.RETRY_BACKOFF_MS: round(delay_s * 1000), spans.RETRY_PUSHBACK: pushback}
        spans.add_event(spans.EVENT_RETRY, facts)
        logger.info("retrying", extra={**_log_fields(facts), "target": self._target})
        return delay_s


def retryable(retry: RetryPolicy, error: StockroomError) -> bool:
    if error.reason == CIRCUIT_OPEN:
        return False  # a breaker is open: failing fast is the point
    if error.code in retry.retryable_codes:
        return True
    return error.code == "RESOURCE_EXHAUSTED" and error.retry_after_s is not None


def _attempt_details(
    details: grpc.aio.ClientCallDetails, attempt: int, deadline_at: float | None
) -> grpc.aio.ClientCallDetails:
    timeout_s = details.timeout if deadline_at is None else deadline_at - time.monotonic()
    metadata = details.metadata
    if attempt > 1:
        metadata = grpc.aio.Metadata(*(metadata or ()), (ATTEMPT_METADATA, str(attempt)))
    return grpc.aio.ClientCallDetails(
        details.method, timeout_s, metadata, details.credentials, details.wait_for_ready
    )


def _log_fields(facts: dict[str, Any]) -> dict[str, Any]:
    """Span attribute names as log field names (``stockroom.rpc.attempt`` -> ``attempt``)."""
    return {key.rsplit(".", 1)[-1]: value for key, value in facts.items()}
