"""The one precedence: which price list prices a SKU for a cart at a moment.

1. Only lists in force at the moment count (``PriceList.in_force_at``: active
   then, not a draft, not archived by then). A dry run may try drafts: they
   count as active, an OVERRIDE draft in place of its scope's active OVERRIDE
   list.
2. Scopes are tried in the order of ``PriceListScope.fallbacks``: customer
   group first, then country (the region before its country), then channel,
   each before "every".
3. The **regular price** is the OVERRIDE list's: of the first scope whose
   OVERRIDE list has a version in effect (within a list, ``prices.latest_in``).
   A scope has at most one OVERRIDE list in force at a time.
4. A **sale price** is any SALE list's of any of those scopes: the one that
   charges least for the quantity (ties: the more specific scope, then the
   older list).
5. The sale price applies when it charges less than the regular price for the
   quantity, or when there is no regular price; otherwise the regular price
   does. A sale never raises a price.

Relative lists take part like any other, with their base's versions adjusted
(``candidates``). ``explain.explain_price`` labels every candidate by asking
``decide``, so an explanation cannot disagree with the price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from stockroom.pricing.domain.money import RoundingMode
from stockroom.pricing.domain.price_lists import ListKind, PriceList, derived
from stockroom.pricing.domain.prices import (
    PriceListScope,
    PriceVersion,
    latest_in,
    recording_order,
)


@dataclass(frozen=True)
class ListView:
    """The price lists of one currency as a choice sees them: ``trial`` are drafts a dry
    run treats as active."""

    lists: Mapping[str, PriceList]
    trial: frozenset[str] = frozenset()

    def in_force(self, price_list: PriceList, moment: datetime) -> bool:
        return price_list.list_id in self.trial or price_list.in_force_at(moment)

    def override_of(self, scope: PriceListScope, moment: datetime) -> PriceList | None:
        """The scope's OVERRIDE list in force: a tried draft before the active one."""
        found = [
            price_list
            for price_list in self.lists.values()
            if price_list.kind is ListKind.OVERRIDE
            and price_list.scope == scope
            and self.in_force(price_list, moment)
        ]
        return max(found, key=self._preference, default=None)

    def _preference(self, price_list: PriceList) -> tuple[bool, int]:
        return price_list.list_id in self.trial, recording_order(price_list.list_id)


def candidates(
    recorded: Iterable[PriceVersion], lists: Mapping[str, PriceList], mode: RoundingMode
) -> list[PriceVersion]:
    """Every version a choice considers: the recorded ones, and each relative list's
    (its base's versions, adjusted), in recording order."""
    relatives: dict[str, list[PriceList]] = {}
    for price_list in lists.values():
        if price_list.relative is not None:
            relatives.setdefault(price_list.relative.base_list_id, []).append(price_list)
    found = []
    for version in recorded:
        found.append(version)
        found.extend(derived(version, r, mode) for r in relatives.get(version.list_id, ()))
    return found


def charge(version: PriceVersion, quantity: int) -> int:
    """What ``version`` charges for ``quantity`` units, in minor units."""
    return version.schedule.total_minor(quantity)


@dataclass(frozen=True)
class Decision:
    """Everything the precedence looked at for one SKU, and what it took."""

    scope: PriceListScope
    quantity: int
    # Per list in force in one of the cart's scopes: the version in effect.
    winners: Mapping[str, PriceVersion]
    # Per fallback scope, most specific first: its OVERRIDE list in force, if any.
    overrides: Sequence[tuple[PriceListScope, PriceList | None]]
    regular: PriceVersion | None
    # SALE versions in effect, cheapest first (the precedence's order).
    sales: Sequence[PriceVersion]
    chosen: PriceVersion | None
    lists: Mapping[str, PriceList] = field(default_factory=dict)

    @property
    def price_list(self) -> PriceList | None:
        return None if self.chosen is None else self.lists[self.chosen.list_id]

    @property
    def sale_applied(self) -> bool:
        return self.chosen is not None and self.chosen is not self.regular


def decide(
    versions: Sequence[PriceVersion],
    view: ListView,
    scope: PriceListScope,
    moment: datetime,
    quantity: int = 1,
) -> Decision:
    """The precedence for one SKU: ``versions`` are its ``candidates`` in the scope's
    currency (any list, any scope; the others are ignored)."""
    fallbacks = scope.fallbacks()
    rank = {s: i for i, s in enumerate(fallbacks)}
    counted = {
        list_id: price_list
        for list_id, price_list in view.lists.items()
        if price_list.scope in rank and view.in_force(price_list, moment)
    }
    winners = latest_in((v for v in versions if v.list_id in counted), moment)
    overrides = [(s, view.override_of(s, moment)) for s in fallbacks]
    regular = next(
        (winners[o.list_id] for _, o in overrides if o is not None and o.list_id in winners), None
    )
    sales = sorted(
        (v for list_id, v in winners.items() if counted[list_id].kind is ListKind.SALE),
        key=lambda v: (charge(v, quantity), rank[v.scope], recording_order(v.list_id)),
    )
    chosen = regular
    if sales and (regular is None or charge(sales[0], quantity) < charge(regular, quantity)):
        chosen = sales[0]
    return Decision(scope, quantity, winners, overrides, regular, sales, chosen, view.lists)


def choose(
    versions: Sequence[PriceVersion],
    view: ListView,
    scope: PriceListScope,
    moment: datetime,
    quantity: int = 1,
) -> PriceVersion | None:
    """The version that prices ``quantity`` units of one SKU (``decide``'s choice)."""
    return decide(versions, view, scope, moment, quantity).chosen
