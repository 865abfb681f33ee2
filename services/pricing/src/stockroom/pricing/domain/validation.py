"""Rules for the identifiers and codes every pricing request carries.

Errors are collected in a ``FieldErrors`` so a caller sees every problem at
once; ``raise_if_any`` names the problem in ErrorInfo.reason when there is
only one kind of problem, so callers can branch on UNKNOWN_CURRENCY or
EMPTY without digging into the field violations.
"""

from __future__ import annotations

from stockroom.common.db import canonical_request_id
from stockroom.common.errors import FieldErrors, InvalidArgument
from stockroom.pricing.domain.money import DOMAIN, minor_unit_exponent

# The same bound inventory puts on a SKU (inventory.domain.MAX_ID_LENGTH), so a
# cart pricing accepts is one inventory accepts too.
MAX_ID_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 200


def new_problems() -> FieldErrors:
    return FieldErrors(domain=DOMAIN)


def raise_if_any(problems: FieldErrors) -> None:
    """Raise InvalidArgument with every violation, if there are any."""
    if not problems.violations:
        return
    reasons = {violation.reason for violation in problems.violations}
    summary = "; ".join(f"{v.field}: {v.description}" for v in problems.violations[:5])
    raise InvalidArgument(
        f"the request has invalid fields: {summary}",
        reason=reasons.pop() if len(reasons) == 1 else "INVALID_REQUEST",
        domain=DOMAIN,
        field_violations=problems.violations,
    )


def check_id(problems: FieldErrors, field: str, value: str, *, required: bool = True) -> None:
    """SKUs, channels, customer groups: 1-64 printable characters, no edge spaces."""
    if not value:
        if required:
            problems.add(field, "is required", "REQUIRED")
    elif len(value) > MAX_ID_LENGTH or not value.isprintable() or value.strip() != value:
        problems.add(field, f"must be 1-{MAX_ID_LENGTH} printable characters", "MALFORMED")


def check_currency(problems: FieldErrors, field: str, currency_code: str) -> None:
    if not currency_code:
        problems.add(field, "is required", "REQUIRED")
    elif minor_unit_exponent(currency_code) is None:
        problems.add(
            field,
            f"{currency_code!r} is not an ISO 4217 currency with a minor unit",
            "UNKNOWN_CURRENCY",
        )


def check_request_id(problems: FieldErrors, request_id: str) -> None:
    """AIP-155: a request id, when given, is a hyphenated UUID (any case; ``urn:uuid:``,
    braces and other spellings are refused, so one id is never two requests)."""
    if request_id and canonical_request_id(request_id) is None:
        problems.add(
            "request_id", "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000", "MALFORMED"
        )


def normal_request_id(request_id: str) -> str:
    """The one spelling a valid request id is stored under (lower case)."""
    return request_id.lower()


def check_display_name(problems: FieldErrors, field: str, value: str) -> None:
    if len(value) > MAX_DISPLAY_NAME_LENGTH or not value.isprintable():
        problems.add(
            field, f"must be at most {MAX_DISPLAY_NAME_LENGTH} printable characters", "MALFORMED"
        )
