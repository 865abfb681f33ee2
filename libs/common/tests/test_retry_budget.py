"""The retry budget (gRFC A6 token bucket) and the backoff schedule, without a server."""

from __future__ import annotations

import pytest

from stockroom.common.client import RetryBudget, RetryPolicy


def test_retries_are_allowed_while_more_than_half_the_tokens_are_left() -> None:
    budget = RetryBudget(max_tokens=4, token_ratio=0.5)
    budget.record_failure()
    assert budget.allows_retry()  # 3 > 2

    budget.record_failure()

    assert not budget.allows_retry()  # 2 is not > 2
    assert budget.retries_denied == 1


def test_successes_refill_the_bucket_up_to_its_size() -> None:
    budget = RetryBudget(max_tokens=4, token_ratio=0.5)
    for _ in range(4):
        budget.record_failure()
    assert budget.tokens == 0

    for _ in range(5):
        budget.record_success()
    assert budget.allows_retry()

    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 4


def test_token_changes_reach_listeners() -> None:
    seen: list[float] = []
    budget = RetryBudget(max_tokens=2, token_ratio=1)
    budget.on_change.add(seen.append)

    budget.record_failure()
    budget.record_success()
    budget.record_success()  # already full: no change, no event

    assert seen == [1, 2]


def test_full_jitter_backoff_stays_under_a_doubling_capped_ceiling() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, backoff_multiplier=2, max_backoff_s=0.3)

    ceilings = [policy.backoff_s(n, rand=lambda: 1.0) for n in (1, 2, 3, 4)]
    floors = [policy.backoff_s(n, rand=lambda: 0.0) for n in (1, 2, 3, 4)]

    assert ceilings == pytest.approx([0.1, 0.2, 0.3, 0.3])
    assert floors == [0, 0, 0, 0]


@pytest.mark.parametrize("code", ["DEADLINE_EXCEEDED", "CANCELLED", "INVALID_ARGUMENT"])
def test_a_policy_cannot_make_a_never_retryable_code_retryable(code: str) -> None:
    with pytest.raises(ValueError, match=code):
        RetryPolicy(retryable_codes=frozenset({"UNAVAILABLE", code}))
