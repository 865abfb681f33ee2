"""Discount codes: their form, their generation, and the answer a quote gives for each.

A code is 3-32 characters of A-Z, 0-9 and '-', compared without regard to
case (stored upper case). Generated codes take 12 characters from an
alphabet of 31 without look-alikes (no 0/O, 1/I/L) drawn with ``secrets``:
59 bits each, so guessing one of a million issued codes takes about 2^39
tries. Uniqueness is the database's (the code is the primary key).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.promotions import (
    Allowance,
    Promotion,
    PromotionState,
)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 12
MIN_CODE_LENGTH = 3
MAX_CODE_LENGTH = 32
MAX_PREFIX_LENGTH = MAX_CODE_LENGTH - GENERATED_LENGTH
MAX_CODES_PER_CALL = 10_000
MAX_CODES_PER_QUOTE = 20
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def normalize(code: str) -> str:
    return code.strip().upper()


def check_code(problems: FieldErrors, field: str, code: str) -> None:
    if not MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH or not set(code) <= _ALLOWED:
        problems.add(
            field,
            f"must be {MIN_CODE_LENGTH}-{MAX_CODE_LENGTH} letters, digits or dashes",
            "MALFORMED",
        )


def generate(count: int, prefix: str) -> list[str]:
    """``count`` new random codes (distinct among themselves), each ``prefix`` + 12 characters."""
    codes: dict[str, None] = {}
    while len(codes) < count:  # a repeat among 2^60 is as good as impossible
        codes[prefix + "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))] = None
    return list(codes)


class CodeStatus(Enum):
    APPLIED = "APPLIED"
    UNKNOWN = "UNKNOWN"
    EXPIRED = "EXPIRED"
    USED_UP = "USED_UP"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NOT_BEST = "NOT_BEST"


@dataclass(frozen=True)
class DiscountCode:
    """A code as stored: its promotion, how often it may be redeemed, how often it was."""

    code: str
    promotion_id: str
    max_uses: int | None = None
    uses: int = 0

    @property
    def used_up(self) -> bool:
        return self.max_uses is not None and self.uses >= self.max_uses


@dataclass(frozen=True)
class CodeResult:
    code: str
    status: CodeStatus
    promotion_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class CodeChoice:
    """Which promotions the quote's codes unlock, and the answer already known for the
    codes that unlock nothing (the others are answered once the cart is priced)."""

    unlocked: Mapping[str, str]  # promotion id -> the code that unlocked it
    early: Mapping[str, CodeResult]  # code -> answer


def choose_codes(
    given: Sequence[str],
    found: Mapping[str, tuple[DiscountCode, Promotion]],
    in_cart: Mapping[str, Promotion],
    allowances: Mapping[str, Allowance],
    moment_state: Mapping[str, PromotionState],
) -> CodeChoice:
    """Answer what can be answered before pricing: unknown, expired, used-up and
    not-eligible codes; the first usable code of each promotion unlocks it."""
    unlocked: dict[str, str] = {}
    early: dict[str, CodeResult] = {}
    for code in given:
        if code in early or code in unlocked.values():
            continue
        if code not in found:
            early[code] = CodeResult(code, CodeStatus.UNKNOWN, "", "no such code")
            continue
        record, promotion = found[code]
        pid = promotion.promotion_id
        state = moment_state[pid]
        if state is not PromotionState.ACTIVE:
            early[code] = CodeResult(
                code, CodeStatus.EXPIRED, pid, f"the promotion is {state.value.lower()}"
            )
        elif record.used_up:
            early[code] = CodeResult(code, CodeStatus.USED_UP, pid, "the code is used up")
        elif pid not in in_cart:
            early[code] = CodeResult(
                code, CodeStatus.NOT_ELIGIBLE, pid, "the promotion is not for this cart"
            )
        elif allowances[pid].reason == "USED_UP":
            early[code] = CodeResult(code, CodeStatus.USED_UP, pid, "the promotion is used up")
        elif allowances[pid].reason == "NEEDS_CUSTOMER":
            early[code] = CodeResult(
                code, CodeStatus.NOT_ELIGIBLE, pid, "the promotion needs a customer_id"
            )
        elif pid in unlocked:
            early[code] = CodeResult(
                code, CodeStatus.NOT_BEST, pid, f"code {unlocked[pid]} unlocked it already"
            )
        else:
            unlocked[pid] = code
    return CodeChoice(unlocked, early)
