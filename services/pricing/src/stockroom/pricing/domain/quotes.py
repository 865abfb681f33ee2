"""Quotes: a cart priced line by line, discounted, totalled, with its availability.

The numbers hold together by construction, in integer minor units:
``line.total = sum of its tier charges``, ``subtotal = sum of line totals``,
``line.net_total = line.total - line discounts >= 0`` and
``total = subtotal - discount_total = sum of line net totals >= 0``. The cart
promotion's amount is split over the lines by ``money.allocate``, so the
shares add up to it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from stockroom.common.contract import MAX_AVAILABILITY_LINES, check_line_count, check_quantity
from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.codes import MAX_CODES_PER_QUOTE, CodeResult, check_code
from stockroom.pricing.domain.discounts import (
    NO_OFFERS,
    AppliedDiscount,
    LineAmount,
    Offers,
    cart_discount,
    line_discounts,
)
from stockroom.pricing.domain.money import allocate, check_amount, minor_unit_exponent
from stockroom.pricing.domain.prices import (
    NewPrice,
    PriceListScope,
    PriceVersion,
    validate_scope,
)
from stockroom.pricing.domain.promotions import Promotion, PromotionTerms
from stockroom.pricing.domain.rounding import CurrencyRules, cash_round
from stockroom.pricing.domain.tax import (
    MAX_RATE_PPM,
    MAX_RATES_PER_LINE,
    TaxRate,
    TaxSplit,
    add_splits,
    split_tax,
)
from stockroom.pricing.domain.tiers import TierCharge, TiersMode
from stockroom.pricing.domain.validation import check_label, check_sku

DEFAULT_RULES = CurrencyRules()


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int
    tax_rates: tuple[TaxRate, ...] = ()


@dataclass(frozen=True)
class Cart:
    """What a caller asks to have quoted; ``price_time`` None means now."""

    lines: tuple[CartLine, ...]
    scope: PriceListScope
    price_time: datetime | None = None
    discount_codes: tuple[str, ...] = ()
    customer_id: str = ""
    explain: bool = False
    dry_run: bool = False
    pending_prices: tuple[NewPrice, ...] = ()
    pending_promotions: tuple[PromotionTerms, ...] = ()
    reserve: bool = False
    draft_list_ids: tuple[str, ...] = ()


def validate_cart(problems: FieldErrors, cart: Cart) -> None:
    """Add every problem with ``cart`` to ``problems``, under the request's field names."""
    validate_scope(problems, cart.scope)
    # Inventory is asked about the whole cart in one CheckAvailability call.
    check_line_count(problems, "lines", len(cart.lines), MAX_AVAILABILITY_LINES)
    first_line: dict[str, int] = {}
    for i, line in enumerate(cart.lines[:MAX_AVAILABILITY_LINES]):
        check_sku(problems, f"lines[{i}].sku", line.sku)
        if line.sku in first_line:
            problems.add(
                f"lines[{i}].sku",
                f"{line.sku!r} is already on line {first_line[line.sku]}; "
                "put every unit of a SKU on one line",
                "DUPLICATE_SKU",
            )
        first_line.setdefault(line.sku, i)
        check_quantity(problems, f"lines[{i}].quantity", line.quantity)
        if len(line.tax_rates) > MAX_RATES_PER_LINE:
            problems.add(
                f"lines[{i}].tax_rates", f"at most {MAX_RATES_PER_LINE} per line", "TOO_MANY"
            )
        if sum(rate.rate_ppm for rate in line.tax_rates) > MAX_RATE_PPM:
            problems.add(f"lines[{i}].tax_rates", "add up to more than 100 %", "OUT_OF_RANGE")
    check_label(problems, "customer_id", cart.customer_id, required=False)
    if cart.reserve and cart.dry_run:
        problems.add("reserve", "a dry run holds no stock", "NOT_ALLOWED")
    if (cart.pending_prices or cart.pending_promotions or cart.draft_list_ids) and not cart.dry_run:
        problems.add(
            "dry_run",
            "pending prices and promotions and draft price lists are for dry runs only",
            "DRY_RUN_ONLY",
        )
    if len(cart.discount_codes) > MAX_CODES_PER_QUOTE:
        problems.add("discount_codes", f"at most {MAX_CODES_PER_QUOTE}", "TOO_MANY")
    for i, code in enumerate(cart.discount_codes[:MAX_CODES_PER_QUOTE]):
        check_code(problems, f"discount_codes[{i}]", code)


@dataclass(frozen=True)
class PricedLine:
    sku: str
    quantity: int
    price_id: str
    tiers_mode: TiersMode | None
    charges: tuple[TierCharge, ...]
    unit_amount_minor: int | None
    total_minor: int
    discounts: tuple[AppliedDiscount, ...]
    tax_inclusive: bool = False
    tax_rates: tuple[TaxRate, ...] = ()
    tax: TaxSplit | None = None  # None: priced before tax existed, net_total untaxed
    price_list_id: str = ""  # "": priced before named price lists

    @property
    def discount_minor(self) -> int:
        return sum(discount.amount_minor for discount in self.discounts)

    @property
    def net_total_minor(self) -> int:
        return self.total_minor - self.discount_minor

    @property
    def tax_split(self) -> TaxSplit:
        return self.tax or TaxSplit(self.net_total_minor, 0, self.net_total_minor)


@dataclass(frozen=True)
class PricedCart:
    currency_code: str
    lines: tuple[PricedLine, ...]
    cart_discounts: tuple[AppliedDiscount, ...]
    # What to pay: the gross total after cash rounding; None means the gross total.
    amount_due: int | None = None

    @property
    def tax_total(self) -> TaxSplit:
        return add_splits([line.tax_split for line in self.lines])

    @property
    def amount_due_minor(self) -> int:
        return self.tax_total.gross_minor if self.amount_due is None else self.amount_due

    @property
    def cash_rounding_minor(self) -> int:
        return self.amount_due_minor - self.tax_total.gross_minor

    @property
    def subtotal_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return sum(line.net_total_minor for line in self.lines)


def price_cart(
    lines: Sequence[CartLine],
    prices: Mapping[str, PriceVersion],
    promotions: Sequence[Promotion],
    currency_code: str,
    rules: CurrencyRules = DEFAULT_RULES,
    offers: Offers = NO_OFFERS,
) -> PricedCart:
    """Price every line with its price version, apply promotions by the combination
    rule of ``discounts``, split each line's net total into net, tax and gross, and
    round what is to be paid to the currency's cash increment. ``prices`` has a
    version for every line's SKU."""
    mode = rules.mode(currency_code)
    offers = replace(offers, mode=mode)
    exponent = minor_unit_exponent(currency_code)
    if exponent is None:
        raise ValueError(f"{currency_code} has no minor unit")
    applicable = [p for p in promotions if p.applies_in(currency_code)]
    charges = [prices[line.sku].schedule.charge(line.quantity) for line in lines]
    amounts = [
        LineAmount(
            line.sku,
            line.quantity,
            check_amount(sum(c.amount_minor for c in line_charges), f"the total of {line.sku}"),
        )
        for line, line_charges in zip(lines, charges, strict=True)
    ]
    check_amount(sum(a.total_minor for a in amounts), "the subtotal")
    by_line = line_discounts(amounts, applicable, currency_code, exponent, offers)
    after_lines = [
        amount.total_minor - (discount.amount_minor if discount else 0)
        for amount, discount in zip(amounts, by_line, strict=True)
    ]
    quantity = sum(line.quantity for line in lines)
    on_cart = cart_discount(quantity, sum(after_lines), applicable, currency_code, exponent, offers)
    shares = allocate(on_cart.amount_minor if on_cart else 0, after_lines)
    priced = []
    for line, line_charges, amount, discount, share in zip(
        lines, charges, amounts, by_line, shares, strict=True
    ):
        discounts = [discount] if discount else []
        if on_cart and share:
            discounts.append(
                AppliedDiscount(
                    on_cart.promotion_id,
                    on_cart.display_name,
                    on_cart.target,
                    share,
                    f"this line's share of the cart discount ({on_cart.reason})",
                    on_cart.code,
                    on_cart.promotion_version,
                )
            )
        version = prices[line.sku]
        schedule = version.schedule
        net_total = amount.total_minor - sum(d.amount_minor for d in discounts)
        priced.append(
            PricedLine(
                sku=line.sku,
                quantity=line.quantity,
                price_id=prices[line.sku].price_id,
                tiers_mode=schedule.mode,
                charges=line_charges,
                unit_amount_minor=_unit_amount(schedule.mode, line_charges),
                total_minor=amount.total_minor,
                discounts=tuple(discounts),
                tax_inclusive=version.tax_inclusive,
                tax_rates=line.tax_rates,
                tax=split_tax(net_total, version.tax_inclusive, line.tax_rates, mode),
                price_list_id=version.list_id,
            )
        )
    cart = PricedCart(currency_code, tuple(priced), (on_cart,) if on_cart else ())
    due = cash_round(cart.tax_total.gross_minor, rules.cash_increment(currency_code), mode)
    return replace(cart, amount_due=due)


def _unit_amount(mode: TiersMode | None, charges: tuple[TierCharge, ...]) -> int | None:
    """One unit's price, where there is one: per-unit and volume prices (without a flat
    amount) have it; a graduated price charges units differently."""
    if mode is TiersMode.GRADUATED or charges[0].tier.flat_amount_minor:
        return None
    return charges[0].tier.unit_amount_minor


class Availability(Enum):
    IN_STOCK = "IN_STOCK"
    INSUFFICIENT = "INSUFFICIENT"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class StockCheck:
    """What inventory said: units available per SKU, or None with a reason and a note."""

    available: Mapping[str, int] | None
    reason: str = ""
    note: str = ""

    @classmethod
    def unknown(cls, reason: str, note: str) -> StockCheck:
        return cls(None, reason, note)

    def of(self, sku: str, quantity: int) -> tuple[Availability, int | None]:
        if self.available is None:
            return Availability.UNKNOWN, None
        available = self.available.get(sku, 0)
        enough = available >= quantity
        return (Availability.IN_STOCK if enough else Availability.INSUFFICIENT), available


@dataclass(frozen=True)
class StockHold:
    """Stock inventory holds for a quote, or why it holds none."""

    reservation_id: str
    expire_at: datetime | None
    reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class Quote:
    """A priced cart with its availability, kept so it can be honoured until it expires."""

    quote_id: str
    scope: PriceListScope
    price_time: datetime
    created_at: datetime
    expire_at: datetime
    priced: PricedCart
    stock: StockCheck
    customer_id: str = ""
    codes: tuple[CodeResult, ...] = ()
    # Per line, in line order, when the quote was asked to explain (never stored).
    explanations: tuple[Any, ...] = ()
    dry_run: bool = False
    hold: StockHold | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expire_at
