"""Limits every service applies to the same quantities and lists.

Pricing quotes a cart by asking inventory about all of it in one
CheckAvailability call, so a cart may hold no more lines than that call takes;
quantities are bounded far below int64 so sums over many movements or tiers
never overflow.
"""

from __future__ import annotations

from stockroom.common.errors import FieldErrors

MAX_QUANTITY = 1_000_000_000
# Lines in one CheckAvailability call, and so in one priced cart.
MAX_AVAILABILITY_LINES = 500
# Checks in one BatchCheckAvailability call (pricing gathers concurrent quotes' checks into
# one), and lines over all of them.
MAX_AVAILABILITY_CHECKS = 100
MAX_BATCH_AVAILABILITY_LINES = 5_000
# Lines in one ReserveStock call.
MAX_RESERVATION_LINES = 100


def check_quantity(
    problems: FieldErrors, field: str, value: int, *, allow_zero: bool = False
) -> None:
    """Add NOT_POSITIVE/NEGATIVE or TOO_LARGE unless ``value`` is a countable quantity."""
    if value < 0 or (value == 0 and not allow_zero):
        problems.add(
            field,
            "must not be negative" if allow_zero else "must be positive",
            "NEGATIVE" if allow_zero else "NOT_POSITIVE",
        )
    elif value > MAX_QUANTITY:
        problems.add(field, f"must be at most {MAX_QUANTITY}", "TOO_LARGE")


def check_line_count(problems: FieldErrors, field: str, count: int, limit: int) -> None:
    """Add EMPTY or TOO_MANY unless a request has between 1 and ``limit`` lines."""
    if count == 0:
        problems.add(field, "at least one line is required", "EMPTY")
    elif count > limit:
        problems.add(field, f"at most {limit} lines per request", "TOO_MANY")
