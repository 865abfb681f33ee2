"""Rules for the identifiers and codes every pricing request carries.

Errors are collected in a ``FieldErrors`` so a caller sees every problem at
once; ``raise_if_any`` names the problem in ErrorInfo.reason when there is
only one kind of problem, so callers can branch on UNKNOWN_CURRENCY or
EMPTY without digging into the field violations.
"""

from __future__ import annotations

from stockroom.common import contract
from stockroom.common.errors import FieldErrors, InvalidArgument
from stockroom.pricing.domain.money import DOMAIN, minor_unit_exponent

# Channels, customer groups and customer ids are pricing's own names; SKUs follow the shared
# rule (``stockroom.common.contract.check_id``) so pricing never stores a price
# for a SKU inventory refuses.
MAX_LABEL_LENGTH = contract.MAX_ID_LENGTH
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


def check_label(problems: FieldErrors, field: str, value: str, *, required: bool = True) -> None:
    """Channels, customer groups, customer ids: 1-64 printable characters, no edge spaces."""
    if not value:
        if required:
            problems.add(field, "is required", "REQUIRED")
    elif len(value) > MAX_LABEL_LENGTH or not value.isprintable() or value.strip() != value:
        problems.add(field, f"must be 1-{MAX_LABEL_LENGTH} printable characters", "MALFORMED")


def check_sku(problems: FieldErrors, field: str, value: str) -> None:
    """A SKU as inventory accepts it (the shared rule)."""
    contract.check_id(problems, field, value)


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
    """AIP-155: a request id, when given, is a UUID as every service spells it."""
    contract.check_request_id(problems, request_id, required=False)


def check_display_name(problems: FieldErrors, field: str, value: str) -> None:
    if len(value) > MAX_DISPLAY_NAME_LENGTH or not value.isprintable():
        problems.add(
            field, f"must be at most {MAX_DISPLAY_NAME_LENGTH} printable characters", "MALFORMED"
        )
