"""Identifiers every service shares: SKUs, location ids, request ids.

A SKU or location id appears unescaped in resource names and URLs, so it is
letters, digits, '.', '_' and '-', starting with a letter or digit, at most
``MAX_ID_LENGTH`` characters. A request id (AIP-155) is a UUID in its
hyphenated text form, in either letter case.
"""

from __future__ import annotations

import re
import uuid

from stockroom.common.errors import FieldErrors

MAX_ID_LENGTH = 64
ID_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}")
ID_RULE = (
    f"must be 1-{MAX_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"
)
REQUEST_ID_RULE = "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000"


def is_valid_id(value: str) -> bool:
    """A SKU or location id as every service accepts it."""
    return ID_PATTERN.fullmatch(value) is not None


def check_id(problems: FieldErrors, field: str, value: str, *, required: bool = True) -> None:
    """Add REQUIRED or MALFORMED for ``field`` unless ``value`` is a valid SKU or location id."""
    if not value:
        if required:
            problems.add(field, "is required", "REQUIRED")
    elif not is_valid_id(value):
        problems.add(field, ID_RULE, "MALFORMED")


def is_valid_request_id(value: str) -> bool:
    """A request id as every service accepts it: a hyphenated UUID, any letter case."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def check_request_id(
    problems: FieldErrors, value: str, field: str = "request_id", *, required: bool = True
) -> None:
    """Add REQUIRED or MALFORMED for ``field`` unless ``value`` is a valid request id."""
    if not value:
        if required:
            problems.add(field, "is required (a UUID chosen by the caller)", "REQUIRED")
    elif not is_valid_request_id(value):
        problems.add(field, REQUEST_ID_RULE, "MALFORMED")
