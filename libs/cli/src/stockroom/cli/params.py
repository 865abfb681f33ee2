"""Argument types that refuse bad input with a usage error (exit 2) instead of a traceback."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click


class SkuQuantity(click.ParamType):  # type: ignore[type-arg]
    """``SKU=QTY`` with a positive whole quantity."""

    name = "SKU=QTY"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        sku, sep, quantity = str(value).rpartition("=")
        if not sep or not sku:
            self.fail(f"{value!r} is not SKU=QTY (e.g. MUG=3)", param, ctx)
        try:
            number = int(quantity)
        except ValueError:
            self.fail(f"{value!r}: {quantity!r} is not a whole number", param, ctx)
        if number <= 0:
            self.fail(f"{value!r}: the quantity must be positive", param, ctx)
        return sku, number


class Moment(click.ParamType):  # type: ignore[type-arg]
    """An ISO 8601 moment with its time zone (``2026-12-01T00:00Z``)."""

    name = "MOMENT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 moment (e.g. 2026-12-01T09:00Z)", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} needs a time zone, e.g. 2026-12-01T09:00Z or +01:00", param, ctx)
        return moment


class Amount(click.ParamType):  # type: ignore[type-arg]
    """A finite decimal amount (``12.50``), kept exact."""

    name = "AMOUNT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number (e.g. 12.50)", param, ctx)
        if not amount.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return amount


class PartQuantity(click.ParamType):  # type: ignore[type-arg]
    """``SKU=QTY`` or ``SKU@LOCATION=QTY``: part of a reservation line (positive quantity)."""

    name = "SKU[@LOCATION]=QTY"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str, int]:
        if isinstance(value, tuple):
            return value
        where, number = SKU_QUANTITY.convert(value, param, ctx)
        sku, _, location_id = where.partition("@")
        if not sku or (where.endswith("@") and not location_id):
            self.fail(f"{value!r} is not SKU=QTY or SKU@LOCATION=QTY (e.g. MUG@WH-1=2)", param, ctx)
        return sku, location_id, number


class Cart(click.ParamType):  # type: ignore[type-arg]
    """``SKU=QTY,SKU=QTY,...``: the lines of one cart."""

    name = "SKU=QTY,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[tuple[str, int], ...]:
        if isinstance(value, tuple):
            return value
        parts = [part for part in str(value).split(",") if part]
        if not parts:
            self.fail(f"{value!r} has no SKU=QTY lines", param, ctx)
        return tuple(SKU_QUANTITY.convert(part, param, ctx) for part in parts)


SKU_QUANTITY = SkuQuantity()
CART = Cart()
PART_QUANTITY = PartQuantity()
MOMENT = Moment()
AMOUNT = Amount()
