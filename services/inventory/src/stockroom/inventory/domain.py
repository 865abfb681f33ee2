"""The inventory domain: plain values and rules, no gRPC, no SQL."""

from __future__ import annotations

from dataclasses import dataclass

from stockroom.common.errors import FieldErrors

MAX_LINES = 500
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Line:
    """A quantity of one SKU."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class LineAvailability:
    sku: str
    requested: int
    available: int

    @property
    def satisfiable(self) -> bool:
        return self.available >= self.requested


def validate_lines(lines: list[Line], field: str = "lines") -> None:
    """Raise InvalidArgument listing every bad line."""
    problems = FieldErrors(domain="inventory.stockroom")
    if not lines:
        problems.add(field, "at least one line is required", "EMPTY")
    if len(lines) > MAX_LINES:
        problems.add(field, f"at most {MAX_LINES} lines per request", "TOO_MANY")
    for i, line in enumerate(lines[:MAX_LINES]):
        validate_id(problems, f"{field}[{i}].sku", line.sku)
        if line.quantity <= 0:
            problems.add(f"{field}[{i}].quantity", "must be positive", "NOT_POSITIVE")
    problems.raise_if_any()


def validate_id(problems: FieldErrors, field: str, value: str) -> None:
    if not value:
        problems.add(field, "is required", "REQUIRED")
    elif len(value) > MAX_ID_LENGTH or not value.isprintable() or value.strip() != value:
        problems.add(field, f"must be 1-{MAX_ID_LENGTH} printable characters", "MALFORMED")
