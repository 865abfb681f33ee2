"""A retry budget: the token bucket of gRFC A6 ("retry throttling"), one per downstream.

Every failed attempt with a retryable status takes a token, every success
gives back ``token_ratio`` of one, and retries are allowed only while more
than half the bucket is left. In an outage the bucket drains after a handful
of failures and callers stop retrying, so retries cannot multiply the load on
a dependency that is already down; as calls succeed again, retries return.
"""

from __future__ import annotations

from stockroom.common.client._listeners import Listeners


class RetryBudget:
    """Decides whether one more retry is affordable. Not thread-safe: one event loop."""

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0 or token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be positive")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens
        self.retries_denied = 0
        # Called with the token count after every change (a gauge for metrics).
        self.on_change: Listeners[float] = Listeners()

    def allows_retry(self) -> bool:
        """True while more than half the tokens are left (gRFC A6); counts each refusal."""
        if self.tokens > self.max_tokens / 2:
            return True
        self.retries_denied += 1
        return False

    def record_failure(self) -> None:
        """An attempt failed with a retryable status (whether or not it will be retried)."""
        self.tokens = max(0.0, self.tokens - 1)
        self.on_change.emit(self.tokens)

    def record_success(self) -> None:
        if self.tokens < self.max_tokens:
            self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)
            self.on_change.emit(self.tokens)
