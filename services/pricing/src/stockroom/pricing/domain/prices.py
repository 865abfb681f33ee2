"""Price versions and the scopes of price lists: which version of one list applies at a moment.

A price list has a scope: a currency, optionally narrowed to a sales channel,
a customer group, a country or region. A price version belongs to one list
and applies during its validity window ``[valid_from, valid_until)``.
Versions are only ever added, never changed, so the price at any past moment
stays answerable.

Which version applies at moment ``t``, within one price list
(``latest_in``): among the versions whose window contains ``t``, the one with
the latest ``valid_from``; on a tie, the one recorded last. So a new
open-ended version replaces the old one from its ``valid_from`` on, and a
windowed version overlays whatever applied before and uncovers it again when
it ends.

Which list applies is ``price_choice``'s precedence, over the scopes in the
order of ``PriceListScope.fallbacks`` (customer group, then country or region,
then channel).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from stockroom.common.errors import FieldErrors
from stockroom.pricing.domain.tiers import PriceSchedule, validate_schedule
from stockroom.pricing.domain.validation import check_currency, check_label

# A valid_from this little in the past is taken as "now" (client clocks drift);
# anything earlier would rewrite history and is refused.
CLOCK_SKEW_ALLOWANCE = timedelta(seconds=60)


@dataclass(frozen=True)
class PriceListScope:
    """The price list a price belongs to; an empty channel, group or country means "every".

    ``country`` is an ISO 3166-1 alpha-2 code ("CH") or an ISO 3166-2 region of
    one ("US-CA"); a region's cart falls back to its country's list.
    """

    currency_code: str
    channel: str = ""
    customer_group: str = ""
    country: str = ""

    def fallbacks(self) -> tuple[PriceListScope, ...]:
        """The lists to try for a cart in this scope, most specific first.

        The one precedence: customer group first, then country (region before
        country), then channel. A customer group's list beats all others: group
        prices are usually negotiated contracts; a country's list beats a
        channel's: prices per market follow law and tax; a channel's price is a
        sales tactic within them.
        """
        groups = dict.fromkeys((self.customer_group, ""))
        countries = dict.fromkeys((self.country, self.country.partition("-")[0], ""))
        channels = dict.fromkeys((self.channel, ""))
        return tuple(
            PriceListScope(self.currency_code, channel, group, country)
            for group in groups
            for country in countries
            for channel in channels
        )


def scope_name(scope: PriceListScope) -> str:
    """currency/channel/group, and /country when the scope has one ("*": every)."""
    parts = [scope.currency_code, scope.channel or "*", scope.customer_group or "*"]
    return "/".join(parts + ([scope.country] if scope.country else []))


@dataclass(frozen=True)
class PriceVersion:
    """One price of a SKU in a price list, with its validity window.

    ``list_id`` is the list it is in (a relative list's versions are its base's,
    adjusted: same ``price_id``, the relative list's ``list_id`` and scope).
    """

    price_id: str
    sku: str
    scope: PriceListScope
    schedule: PriceSchedule
    valid_from: datetime
    valid_until: datetime | None
    recorded_at: datetime
    tax_inclusive: bool = False
    list_id: str = ""

    def in_effect_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)


@dataclass(frozen=True)
class NewPrice:
    """A price to record, as the caller asked for it: into the list ``list_id``, or
    (without one) into its scope's active OVERRIDE list."""

    sku: str
    scope: PriceListScope
    schedule: PriceSchedule
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    tax_inclusive: bool = False
    list_id: str = ""


def latest_in(versions: Iterable[PriceVersion], moment: datetime) -> dict[str, PriceVersion]:
    """Per list, the version that applies at ``moment``: of the versions whose window
    contains it, the one with the latest ``valid_from``; on a tie, the one recorded
    last (ids grow in recording order)."""
    best: dict[str, PriceVersion] = {}
    for version in versions:
        if not version.in_effect_at(moment):
            continue
        current = best.get(version.list_id)
        if current is None or _later(version, current):
            best[version.list_id] = version
    return best


def _later(version: PriceVersion, than: PriceVersion) -> bool:
    return (version.valid_from, recording_order(version.price_id)) > (
        than.valid_from,
        recording_order(than.price_id),
    )


# A dry run's pending versions ("pending-0", ...) count as recorded after every stored one.
PENDING_ORDER = 2**63


def recording_order(record_id: str) -> int:
    """Stored ids grow in recording order; a pending one comes after all of them."""
    if record_id.isdigit():
        return int(record_id)
    return PENDING_ORDER + int(record_id.rpartition("-")[2] or 0)


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
    if scope.country and not COUNTRY.fullmatch(scope.country):
        problems.add(
            "country",
            "must be an ISO 3166-1 alpha-2 code (CH) or an ISO 3166-2 region (US-CA)",
            "MALFORMED",
        )


COUNTRY = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


def check_list_or_scope(problems: FieldErrors, price: NewPrice) -> None:
    """A price names its list by id or by scope, not both: the list has its scope."""
    if price.list_id and (price.scope.channel or price.scope.customer_group or price.scope.country):
        problems.add(
            "price_list_id",
            "give a price list or a scope (channel, customer_group, country), not both",
            "SCOPE_WITH_LIST",
        )


def pending_version(
    index: int, price: NewPrice, now: datetime, problems: FieldErrors
) -> PriceVersion:
    """A price a dry run evaluates as if recorded now, checked as SetPrice checks it
    (problems under ``pending_prices[index]``)."""
    own = FieldErrors(domain=problems.domain)
    validate_scope(own, price.scope)
    check_list_or_scope(own, price)
    validate_schedule(own, price.schedule, "tiers")
    valid_from, valid_until = effective_window(price, now, own)
    for violation in own.violations:
        problems.add(
            f"pending_prices[{index}].{violation.field}", violation.description, violation.reason
        )
    return PriceVersion(
        f"pending-{index}",
        price.sku,
        price.scope,
        price.schedule,
        valid_from,
        valid_until,
        now,
        price.tax_inclusive,
        price.list_id,
    )
