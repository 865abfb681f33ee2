"""google.type.Money and google.protobuf.Timestamp to domain values and back, exactly.

An incoming amount must be a whole number of its currency's minor units
(12.345 USD is refused, not rounded): pricing never rounds what a caller
said. Timestamps are kept to the microsecond.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.type import money_pb2

from stockroom.common.contract import set_timestamp
from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.money import MAX_AMOUNT_MINOR, minor_unit_exponent

NANOS_PER_UNIT = 1_000_000_000
MAX_NANOS = NANOS_PER_UNIT - 1


def amount_minor(
    problems: FieldErrors,
    field: str,
    money: money_pb2.Money,
    *,
    currency_code: str | None = None,
) -> int | None:
    """The amount in minor units, or None after adding why it cannot be one.

    ``currency_code``, when given, is the currency the amount must be in.
    Amounts are never negative in pricing.
    """
    code = money.currency_code
    exponent = minor_unit_exponent(code)
    if exponent is None:
        reason, text = ("REQUIRED", "is required") if not code else ("UNKNOWN_CURRENCY", "")
        problems.add(
            f"{field}.currency_code",
            text or f"{code!r} is not an ISO 4217 currency with a minor unit",
            reason,
        )
        return None
    if currency_code is not None and code != currency_code:
        problems.add(
            f"{field}.currency_code",
            f"is {code}, but the other amounts are in {currency_code}",
            "CURRENCY_MISMATCH",
        )
        return None
    if not -MAX_NANOS <= money.nanos <= MAX_NANOS:
        problems.add(f"{field}.nanos", f"must be within +-{MAX_NANOS}", "NANOS_OUT_OF_RANGE")
        return None
    if (money.units > 0 and money.nanos < 0) or (money.units < 0 and money.nanos > 0):
        problems.add(field, "units and nanos must have the same sign", "SIGN_MISMATCH")
        return None
    nanos_per_minor = 10 ** (9 - exponent)
    if money.nanos % nanos_per_minor:
        problems.add(
            field, f"{code} has {exponent} decimal places; no rounding is done", "TOO_PRECISE"
        )
        return None
    minor: int = int(money.units) * 10**exponent + int(money.nanos) // nanos_per_minor
    if minor < 0:
        problems.add(field, "must not be negative", "NEGATIVE")
        return None
    if minor > MAX_AMOUNT_MINOR:
        problems.add(field, f"must be at most {MAX_AMOUNT_MINOR} minor units", "TOO_LARGE")
        return None
    return minor


# The ISO 4217 table does not change while we run; a quote converts a dozen amounts.
_known_exponent = functools.lru_cache(maxsize=256)(minor_unit_exponent)


def to_money(amount_minor: int, currency_code: str) -> money_pb2.Money:
    """The exact google.type.Money for an amount in minor units."""
    money = money_pb2.Money()
    set_money(money, amount_minor, currency_code)
    return money


def set_money(field: money_pb2.Money, amount_minor: int, currency_code: str) -> None:
    """Write the exact amount into ``field``, a Money inside a message being built.

    Faster than passing ``to_money(...)`` to a constructor, which builds the Money
    and then copies it into the parent (and a parent passed on is copied again).
    """
    exponent = _known_exponent(currency_code)
    if exponent is None:
        raise ValueError(f"{currency_code} has no minor unit")
    sign = -1 if amount_minor < 0 else 1
    units, minor = divmod(abs(amount_minor), 10**exponent)
    field.currency_code = currency_code
    field.units = sign * units
    field.nanos = sign * minor * 10 ** (9 - exponent)


def moment(
    problems: FieldErrors, field: str, timestamp: timestamp_pb2.Timestamp, is_set: bool
) -> datetime | None:
    """An aware UTC datetime, or None when the field is unset or out of range."""
    if not is_set:
        return None
    try:
        return timestamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        problems.add(field, "is not a valid timestamp (years 1-9999)", "OUT_OF_RANGE")
        return None


def to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    timestamp = timestamp_pb2.Timestamp()
    set_timestamp(timestamp, value)
    return timestamp
