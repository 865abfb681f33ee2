"""Quotes in the database: totals in columns (checked by constraints), the rest as
one JSON snapshot, since a quote is read back whole and never changes.

Quotes made at the same time are stored together: concurrent saves meet in a
group commit (``stockroom.common.db.GroupCommit``) and each batch is one
INSERT, one round trip and one commit for all of them. On PostgreSQL that
INSERT takes one array per column and unnests them into rows: one statement
text, so one prepared statement, whatever the batch size (a multi-row VALUES
would be a new statement, prepared again, for each size). While a
batch is in flight the next may gather for more (``app.QUOTE_BATCHES``), but
only while the server is serving calls that have not reached it yet (a
lightly loaded server never waits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockroom.common.db import (
    DEFAULT_BATCHES,
    BatchSettings,
    GroupCommit,
    RequestKey,
    find_created,
    run_autocommit,
)
from stockroom.common.errors import StockroomError
from stockroom.pricing.domain.codes import CodeResult, CodeStatus
from stockroom.pricing.domain.discounts import AppliedDiscount
from stockroom.pricing.domain.prices import PriceListScope
from stockroom.pricing.domain.promotions import PromotionTarget
from stockroom.pricing.domain.quotes import (
    PricedCart,
    PricedLine,
    Quote,
    StockCheck,
    StockHold,
)
from stockroom.pricing.domain.tax import TaxRate, TaxSplit
from stockroom.pricing.domain.tiers import Tier, TierCharge, TiersMode
from stockroom.pricing.tables import quotes


@dataclass(frozen=True)
class _ToSave:
    quote: Quote
    key: RequestKey | None
    values: dict[str, Any]


class QuoteStore:
    def __init__(
        self,
        engine: AsyncEngine,
        batches: BatchSettings = DEFAULT_BATCHES,
        calls_in_flight: Callable[[], int] | None = None,
    ) -> None:
        """``calls_in_flight``: the calls the server is serving (see the module doc)."""
        self.engine = engine
        self._batcher: GroupCommit[_ToSave, Row[Any] | None] = GroupCommit(
            self._flush, batches, calls_in_flight, name="pricing.quotes"
        )

    async def save(self, quote: Quote, key: RequestKey | None = None) -> Quote:
        """Keep ``quote``; when ``key`` already made a quote, return that one instead
        (REQUEST_ID_REUSED when it was made for another cart)."""
        existing = await self._batcher.submit(_ToSave(quote, key, _values(quote, key)))
        return quote if existing is None else _quote(existing)

    async def _flush(self, items: Sequence[_ToSave]) -> list[Row[Any] | BaseException | None]:
        """One statement that is its own transaction for the whole batch. It inserts
        nothing for a quote whose id or request id is taken: by an earlier request with
        that id (whose quote is read back, or REQUEST_ID_REUSED for that caller alone),
        by an earlier quote of the same batch with the same request id, or by this very
        insert, committed before its connection was lost: so it may run again. A row
        the database refuses (a constraint) fails the batch's statement; each quote is
        then stored alone, so only the offending one fails."""
        try:
            return await run_autocommit(self.engine, lambda c: _insert(c, items), repeatable=True)
        except IntegrityError:
            if len(items) == 1:
                raise
        return [await self._alone(item) for item in items]

    async def _alone(self, item: _ToSave) -> Row[Any] | BaseException | None:
        try:
            found = await run_autocommit(self.engine, lambda c: _insert(c, [item]), repeatable=True)
        except Exception as error:  # this quote's own failure, answered to its caller alone
            return error
        return found[0]

    async def get(self, quote_id: str) -> Quote | None:
        async def work(connection: AsyncConnection) -> Row[Any] | None:
            return (await connection.execute(_BY_ID, {"id": quote_id})).one_or_none()

        row = await run_autocommit(self.engine, work)
        return None if row is None else _quote(row)

    async def made_for(self, key: RequestKey) -> Quote | None:
        """The quote ``key`` made, if any (REQUEST_ID_REUSED if made for another cart)."""

        async def work(connection: AsyncConnection) -> Row[Any] | None:
            return await find_created(connection, quotes, key)

        row = await run_autocommit(self.engine, work)
        return None if row is None else _quote(row)


# Built once: Quote inserts on every call. PostgreSQL: the rows as one array per column
# (unnest zips them), so the statement is the same for every batch size.
_COLUMNS = list(quotes.c)
_INSERT_ARRAYS_UNLESS_TAKEN = (
    postgresql_insert(quotes)
    .from_select(
        [column.name for column in _COLUMNS],
        select(*[func.unnest(bindparam(c.name, type_=ARRAY(c.type))) for c in _COLUMNS]),
    )
    .on_conflict_do_nothing()
    .returning(quotes.c.id)
)
_INSERT_ROWS_UNLESS_TAKEN = sqlite_insert(quotes).on_conflict_do_nothing().returning(quotes.c.id)
_BY_ID = select(quotes).where(quotes.c.id == bindparam("id"))


def _values(quote: Quote, key: RequestKey | None) -> dict[str, Any]:
    priced = quote.priced
    return {
        "id": quote.quote_id,
        "request_id": key.request_id if key else None,
        "request_hash": key.fingerprint if key else None,
        "currency_code": quote.scope.currency_code,
        "channel": quote.scope.channel,
        "customer_group": quote.scope.customer_group,
        "price_time": quote.price_time,
        "created_at": quote.created_at,
        "expire_at": quote.expire_at,
        "subtotal_minor": priced.subtotal_minor,
        "discount_minor": priced.discount_minor,
        "total_minor": priced.total_minor,
        "availability_reason": quote.stock.reason,
        "document": _document(quote),
        "customer_id": quote.customer_id,
        "net_minor": priced.tax_total.net_minor,
        "tax_minor": priced.tax_total.tax_minor,
        "gross_minor": priced.tax_total.gross_minor,
        "amount_due_minor": priced.amount_due_minor,
    }


async def _insert(
    connection: AsyncConnection, items: Sequence[_ToSave]
) -> list[Row[Any] | BaseException | None]:
    """Insert ``items`` unless taken (one statement); for each, None when its row is the
    one given, else the row that took its place (or its own REQUEST_ID_REUSED)."""
    if connection.dialect.name == "postgresql":
        columns = {c.name: [item.values[c.name] for item in items] for c in _COLUMNS}
        inserted = await connection.execute(_INSERT_ARRAYS_UNLESS_TAKEN, columns)
    else:
        inserted = await connection.execute(
            _INSERT_ROWS_UNLESS_TAKEN, [item.values for item in items]
        )
    kept = {row.id for row in inserted}
    outcomes: list[Row[Any] | BaseException | None] = []
    for item in items:
        if item.quote.quote_id in kept:
            outcomes.append(None)
            continue
        try:
            outcomes.append(await _taken_by(connection, item))
        except StockroomError as error:  # REQUEST_ID_REUSED: this caller's alone
            outcomes.append(error)
    return outcomes


async def _taken_by(connection: AsyncConnection, item: _ToSave) -> Row[Any]:
    if item.key is not None:
        existing = await find_created(connection, quotes, item.key)
    else:
        existing = (await connection.execute(_BY_ID, {"id": item.quote.quote_id})).one_or_none()
    if existing is None:  # the conflicting row vanished: quotes are never deleted
        raise RuntimeError(f"quote {item.quote.quote_id} conflicted but has no row")
    return existing


def _document(quote: Quote) -> dict[str, Any]:
    return {
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "price_id": line.price_id,
                "price_list_id": line.price_list_id,
                "tiers_mode": line.tiers_mode.value if line.tiers_mode else None,
                "charges": [
                    {
                        "tier_index": charge.tier_index,
                        "up_to": charge.tier.up_to,
                        "unit_amount_minor": charge.tier.unit_amount_minor,
                        "flat_amount_minor": charge.tier.flat_amount_minor,
                        "quantity": charge.quantity,
                    }
                    for charge in line.charges
                ],
                "unit_amount_minor": line.unit_amount_minor,
                "total_minor": line.total_minor,
                "discounts": [_discount_document(d) for d in line.discounts],
                "tax_inclusive": line.tax_inclusive,
                "tax_rates": [{"name": r.name, "rate_ppm": r.rate_ppm} for r in line.tax_rates],
                "tax": None if line.tax is None else _split_document(line.tax),
            }
            for line in quote.priced.lines
        ],
        "amount_due_minor": quote.priced.amount_due_minor,
        "country": quote.scope.country,
        "hold": None
        if quote.hold is None
        else {
            "reservation_id": quote.hold.reservation_id,
            "expire_at": quote.hold.expire_at.isoformat() if quote.hold.expire_at else None,
            "reason": quote.hold.reason,
            "note": quote.hold.note,
        },
        "codes": [
            {
                "code": result.code,
                "status": result.status.value,
                "promotion_id": result.promotion_id,
                "detail": result.detail,
            }
            for result in quote.codes
        ],
        "cart_discounts": [_discount_document(d) for d in quote.priced.cart_discounts],
        "stock": {
            "available": None if quote.stock.available is None else dict(quote.stock.available),
            "reason": quote.stock.reason,
            "note": quote.stock.note,
        },
    }


def _discount_document(discount: AppliedDiscount) -> dict[str, Any]:
    return {
        "promotion_id": discount.promotion_id,
        "display_name": discount.display_name,
        "target": discount.target.value,
        "amount_minor": discount.amount_minor,
        "reason": discount.reason,
        "code": discount.code,
        "promotion_version": discount.promotion_version,
    }


def _split_document(split: TaxSplit) -> dict[str, Any]:
    return {
        "net_minor": split.net_minor,
        "tax_minor": split.tax_minor,
        "gross_minor": split.gross_minor,
        "taxes_minor": list(split.taxes_minor),
    }


def _split(document: dict[str, Any] | None) -> TaxSplit | None:
    if document is None:
        return None
    return TaxSplit(
        document["net_minor"],
        document["tax_minor"],
        document["gross_minor"],
        tuple(document["taxes_minor"]),
    )


def _quote(row: Row[Any]) -> Quote:
    document = row.document
    lines = tuple(
        PricedLine(
            sku=line["sku"],
            quantity=line["quantity"],
            price_id=line["price_id"],
            tiers_mode=TiersMode(line["tiers_mode"]) if line["tiers_mode"] else None,
            charges=tuple(
                TierCharge(
                    c["tier_index"],
                    Tier(c["up_to"], c["unit_amount_minor"], c["flat_amount_minor"]),
                    c["quantity"],
                )
                for c in line["charges"]
            ),
            unit_amount_minor=line["unit_amount_minor"],
            total_minor=line["total_minor"],
            discounts=tuple(_discount(d) for d in line["discounts"]),
            tax_inclusive=line.get("tax_inclusive", False),
            tax_rates=tuple(TaxRate(r["name"], r["rate_ppm"]) for r in line.get("tax_rates", [])),
            tax=_split(line.get("tax")),
            price_list_id=line.get("price_list_id", ""),
        )
        for line in document["lines"]
    )
    stock = document["stock"]
    return Quote(
        quote_id=row.id,
        scope=PriceListScope(
            row.currency_code, row.channel, row.customer_group, document.get("country", "")
        ),
        price_time=row.price_time,
        created_at=row.created_at,
        expire_at=row.expire_at,
        priced=PricedCart(
            row.currency_code,
            lines,
            tuple(_discount(d) for d in document["cart_discounts"]),
            document.get("amount_due_minor"),
        ),
        stock=StockCheck(stock["available"], stock["reason"], stock["note"]),
        customer_id=row.customer_id,
        hold=_hold(document.get("hold")),
        codes=tuple(
            CodeResult(c["code"], CodeStatus(c["status"]), c["promotion_id"], c["detail"])
            for c in document.get("codes", [])
        ),
    )


def _discount(document: dict[str, Any]) -> AppliedDiscount:
    return AppliedDiscount(
        document["promotion_id"],
        document["display_name"],
        PromotionTarget(document["target"]),
        document["amount_minor"],
        document["reason"],
        document.get("code", ""),
        document.get("promotion_version", 0),
    )


def _hold(document: dict[str, Any] | None) -> StockHold | None:
    if document is None:
        return None
    expire_at = document["expire_at"]
    return StockHold(
        document["reservation_id"],
        datetime.fromisoformat(expire_at) if expire_at else None,
        document["reason"],
        document["note"],
    )
