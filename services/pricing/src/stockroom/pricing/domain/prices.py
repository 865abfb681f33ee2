"""Price lists and price versions: which price applies to a SKU at a moment.

A price list is a scope: a currency, optionally narrowed to a sales channel,
a customer group, or both. A price version belongs to one list and applies
during its validity window ``[valid_from, valid_until)``. Versions are only
ever added, never changed, so the price at any past moment stays answerable.

Which version applies at moment ``t``, within one price list: among the
versions whose window contains ``t``, the one with the latest ``valid_from``;
on a tie, the one recorded last. So a new open-ended version replaces the
old one from its ``valid_from`` on, and a windowed version (a sale) overlays
whatever applied before and uncovers it again when it ends. The store applies
this rule in SQL (one window function), so history of any length stays one
query.

Which list applies: the most specific list with a version in effect, in the
order of ``PriceListScope.fallbacks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.tiers import PriceSchedule
from stockroom.pricing.domain.validation import check_currency, check_label

# A valid_from this little in the past is taken as "now" (client clocks drift);
# anything earlier would rewrite history and is refused.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=60)


@dataclass(frozen=True)
class PriceListScope:
    """The price list a price belongs to; empty channel or group means "every"."""

    currency_code: str
    channel: str = ""
    customer_group: str = ""

    def fallbacks(self) -> tuple[PriceListScope, ...]:
        """The lists to try for a cart in this scope, most specific first.

        A customer group's list beats a channel's: group prices are usually
        negotiated contracts, channel prices a sales tactic.
        """
        candidates = (
            self,
            PriceListScope(self.currency_code, "", self.customer_group),
            PriceListScope(self.currency_code, self.channel, ""),
            PriceListScope(self.currency_code),
        )
        return tuple(dict.fromkeys(candidates))


@dataclass(frozen=True)
class PriceVersion:
    """One recorded price of a SKU in a price list, with its validity window."""

    price_id: str
    sku: str
    scope: PriceListScope
    schedule: PriceSchedule
    valid_from: datetime
    valid_until: datetime | None
    recorded_at: datetime


@dataclass(frozen=True)
class NewPrice:
    """A price to record, as the caller asked for it."""

    sku: str
    scope: PriceListScope
    schedule: PriceSchedule
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def most_specific(
    in_effect: dict[PriceListScope, PriceVersion], scope: PriceListScope
) -> PriceVersion | None:
    """The version of the most specific list that has one, per ``scope.fallbacks``."""
    for candidate in scope.fallbacks():
        if candidate in in_effect:
            return in_effect[candidate]
    return None


def effective_window(
    price: NewPrice, now: datetime, problems: FieldErrors
) -> tuple[datetime, datetime | None]:
    """The window to record ``price`` with: ``valid_from`` defaults to now, and a
    ``valid_from`` within the clock-skew allowance before now becomes now."""
    valid_from = price.valid_from or now
    if valid_from < now - CLOCK_SKEW_ALLOWANCE:
        problems.add(
            "valid_from",
            "must not be in the past: prices already in effect are history",
            "IN_THE_PAST",
        )
    valid_from = max(valid_from, now)
    if price.valid_until is not None and price.valid_until <= valid_from:
        problems.add("valid_until", "must be after valid_from", "NOT_AFTER_VALID_FROM")
    return valid_from, price.valid_until


def validate_scope(problems: FieldErrors, scope: PriceListScope) -> None:
    check_currency(problems, "currency_code", scope.currency_code)
    check_label(problems, "channel", scope.channel, required=False)
    check_label(problems, "customer_group", scope.customer_group, required=False)
