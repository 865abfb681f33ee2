"""Named price lists: a currency and a scope, a kind, a status, maybe prices relative to another.

A list is created a DRAFT (it prices nothing), becomes ACTIVE (it prices from
that moment on) and ends ARCHIVED (it prices nothing after that moment, and
its history stays readable). Status moves only forward, and each step is
stamped with the moment it happened, so "was this list in force at t"
(``in_force_at``) never changes once answered: the price at a past moment
stays what it was.

Its kind says how its prices combine with others (``price_choice`` has the
one precedence): OVERRIDE lists give the regular price of their scope, SALE
lists a price that applies only when it charges less.

A relative list records no prices: each price is its base list's price with
every amount (each tier's unit and flat amount) changed by a percentage,
taken by the one rounding rule (``rounding.adjust``). Its base must be a list
with prices of its own in the same currency, so a chain is one step long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from stockroom.common.errors import (
    FailedPrecondition,
    FieldErrors,
    NotFound,
    PreconditionViolation,
    ResourceRef,
)
from stockroom.pricing.domain.money import BASIS_POINTS_PER_WHOLE, DOMAIN, RoundingMode
from stockroom.pricing.domain.prices import (
    PriceListScope,
    PriceVersion,
    scope_name,
    validate_scope,
)
from stockroom.pricing.domain.rounding import adjust
from stockroom.pricing.domain.tiers import PriceSchedule, Tier
from stockroom.pricing.domain.validation import MAX_DISPLAY_NAME_LENGTH, new_problems, raise_if_any

# A relative list is at most 100 % below (free) and at most 100 % above its base.
MAX_ADJUSTMENT_BP = BASIS_POINTS_PER_WHOLE


class ListStatus(Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class ListKind(Enum):
    OVERRIDE = "OVERRIDE"
    SALE = "SALE"


@dataclass(frozen=True)
class Relative:
    """Prices are the base list's, changed by ``basis_points`` (-1000: 10 % below)."""

    base_list_id: str
    basis_points: int


@dataclass(frozen=True)
class PriceListTerms:
    """What a caller decides about a list when creating it."""

    name: str
    scope: PriceListScope
    kind: ListKind
    relative: Relative | None = None


@dataclass(frozen=True)
class PriceList:
    list_id: str
    terms: PriceListTerms
    status: ListStatus
    created_at: datetime
    activated_at: datetime | None = None
    archived_at: datetime | None = None

    @property
    def scope(self) -> PriceListScope:
        return self.terms.scope

    @property
    def kind(self) -> ListKind:
        return self.terms.kind

    @property
    def relative(self) -> Relative | None:
        return self.terms.relative

    def in_force_at(self, moment: datetime) -> bool:
        """Active at ``moment``: activated at or before it and not archived by then."""
        return (
            self.activated_at is not None
            and self.activated_at <= moment
            and (self.archived_at is None or moment < self.archived_at)
        )

    def label(self) -> str:
        """For people: 'Swiss retail' (#3, override)."""
        return f"{self.terms.name!r} (#{self.list_id}, {self.kind.value.lower()})"


def implicit_list(scope: PriceListScope, now: datetime) -> PriceListTerms:
    """The list ``SetPrice`` without a list id records into when its scope has no active
    OVERRIDE list: named after its scope, active from ``now``. So a caller who never
    heard of named lists gets one list per scope, as before there were names."""
    return PriceListTerms(scope_name(scope), scope, ListKind.OVERRIDE)


def validate_list_terms(problems: FieldErrors, terms: PriceListTerms) -> None:
    name = terms.name
    if not name or len(name) > MAX_DISPLAY_NAME_LENGTH or not name.isprintable():
        problems.add(
            "price_list.display_name",
            f"must be 1-{MAX_DISPLAY_NAME_LENGTH} printable characters",
            "MALFORMED" if name else "REQUIRED",
        )
    scoped = FieldErrors(domain=problems.domain)
    validate_scope(scoped, terms.scope)
    for violation in scoped.violations:
        problems.add(f"price_list.{violation.field}", violation.description, violation.reason)
    relative = terms.relative
    if relative is not None:
        if not is_list_id(relative.base_list_id):
            problems.add("price_list.base_price_list_id", "is not a price list id", "MALFORMED")
        if not -MAX_ADJUSTMENT_BP <= relative.basis_points <= MAX_ADJUSTMENT_BP:
            problems.add(
                "price_list.adjustment_basis_points",
                f"must be {-MAX_ADJUSTMENT_BP} to {MAX_ADJUSTMENT_BP} (-100 % to +100 %)",
                "OUT_OF_RANGE",
            )


def is_list_id(value: str) -> bool:
    """Ids are BIGINTs in ASCII digits ("²".isdigit() is True, int("²") fails)."""
    return value.isascii() and value.isdigit() and len(value) < 19


def check_base(terms: PriceListTerms, base: PriceList | None) -> None:
    """A relative list's base exists, is in its currency and has prices of its own."""
    relative = terms.relative
    if relative is None:
        return
    if base is None:
        raise list_not_found(relative.base_list_id)
    if base.scope.currency_code != terms.scope.currency_code:
        _refuse(
            base,
            "BASE_CURRENCY_MISMATCH",
            f"base list {base.list_id} is in {base.scope.currency_code}, "
            f"not {terms.scope.currency_code}",
        )
    if base.relative is not None:
        _refuse(
            base,
            "BASE_IS_RELATIVE",
            f"base list {base.list_id} is itself relative; make the list relative to its base",
        )


def check_writable(price_list: PriceList) -> None:
    """A price may be recorded into a draft or active list with prices of its own."""
    if price_list.status is ListStatus.ARCHIVED:
        _refuse(price_list, "LIST_ARCHIVED", f"price list {price_list.list_id} is archived")
    if price_list.relative is not None:
        _refuse(
            price_list,
            "LIST_IS_RELATIVE",
            f"price list {price_list.list_id} is relative to list "
            f"{price_list.relative.base_list_id}; record the price there",
        )


def check_target(price_list: PriceList, currency_code: str) -> None:
    """``check_writable``, and the price is in the list's currency."""
    check_writable(price_list)
    if currency_code != price_list.scope.currency_code:
        problems = new_problems()
        problems.add(
            "price_list_id",
            f"price list {price_list.list_id} is in {price_list.scope.currency_code}, "
            f"the price in {currency_code}",
            "CURRENCY_MISMATCH",
        )
        raise_if_any(problems)


def change_status(price_list: PriceList, target: ListStatus, now: datetime) -> PriceList | None:
    """The list in ``target`` status from ``now``, or None when it is in it already.

    Forward only: DRAFT -> ACTIVE -> ARCHIVED, or DRAFT -> ARCHIVED. An archived
    list stays archived; an active one does not go back to draft (its prices
    were in force: archive it and create another).
    """
    current = price_list.status
    if target is current:
        return None
    if current is ListStatus.ARCHIVED:
        _refuse(price_list, "LIST_ARCHIVED", f"price list {price_list.list_id} is archived")
    if target is ListStatus.DRAFT:
        _refuse(
            price_list,
            "LIST_WAS_ACTIVE",
            f"price list {price_list.list_id} is active; archive it instead",
        )
    if target is ListStatus.ACTIVE:
        return replace(price_list, status=target, activated_at=now)
    return replace(price_list, status=target, archived_at=now)


def status_change(
    current: PriceList,
    target: ListStatus,
    active: PriceList | None,
    now: datetime,
    *,
    replace_active: bool = False,
) -> tuple[PriceList, PriceList | None] | None:
    """The list in ``target`` status and the list that archiving replaced, if any; None
    when it is in ``target`` already. ``active`` is its scope's active OVERRIDE list.

    Two OVERRIDE lists of one scope never price at once: activating one while the
    scope has another is refused, unless ``replace_active``, which archives the other
    at the same moment, so the scope's regular price never has a gap or an overlap.
    The moment is never before one already stamped on either list (clocks of
    replicas differ a little), so a list's active period never ends before it began.
    """
    stamped = [current.created_at, current.activated_at]
    if active is not None:
        stamped.append(active.activated_at)
    now = max(now, *(moment for moment in stamped if moment is not None))
    changed = change_status(current, target, now)
    if changed is None:
        return None
    replaced = None
    taking_scope = target is ListStatus.ACTIVE and current.kind is ListKind.OVERRIDE
    if taking_scope and active is not None and active.list_id != current.list_id:
        if not replace_active:
            raise scope_taken(active)
        replaced = change_status(active, ListStatus.ARCHIVED, now)
    return changed, replaced


def scope_taken(active: PriceList) -> FailedPrecondition:
    """Two OVERRIDE lists of one scope never price at once: the regular price of a
    scope is one list's."""
    message = (
        f"{active.label()} is the active override list of {scope_name(active.scope)}; "
        "archive it first, or activate with replace_active"
    )
    return FailedPrecondition(
        message,
        reason="SCOPE_HAS_ACTIVE_LIST",
        domain=DOMAIN,
        metadata={"active_price_list_id": active.list_id},
        precondition_violations=[
            PreconditionViolation("SCOPE_HAS_ACTIVE_LIST", f"priceLists/{active.list_id}", message)
        ],
    )


def list_not_found(list_id: str) -> NotFound:
    return NotFound(
        f"no price list {list_id!r}",
        reason="PRICE_LIST_NOT_FOUND",
        domain=DOMAIN,
        resource=ResourceRef("priceList", list_id),
    )


def _refuse(price_list: PriceList, reason: str, message: str) -> None:
    raise FailedPrecondition(
        message,
        reason=reason,
        domain=DOMAIN,
        precondition_violations=[
            PreconditionViolation(reason, f"priceLists/{price_list.list_id}", message)
        ],
    )


def relative_schedule(
    schedule: PriceSchedule, basis_points: int, mode: RoundingMode
) -> PriceSchedule:
    """Every amount of ``schedule`` adjusted; the tiers' bounds and mode stay."""
    return replace(
        schedule,
        tiers=tuple(
            Tier(
                tier.up_to,
                adjust(tier.unit_amount_minor, basis_points, mode),
                adjust(tier.flat_amount_minor, basis_points, mode),
            )
            for tier in schedule.tiers
        ),
    )


def derived(base: PriceVersion, price_list: PriceList, mode: RoundingMode) -> PriceVersion:
    """``base`` as the relative ``price_list`` prices it: the same version (id, window,
    tax inclusion) in the list's scope, with its amounts adjusted."""
    relative = price_list.relative
    if relative is None:
        raise ValueError(f"price list {price_list.list_id} is not relative")
    return replace(
        base,
        list_id=price_list.list_id,
        scope=price_list.scope,
        schedule=relative_schedule(base.schedule, relative.basis_points, mode),
    )


def check_trial(price_list: PriceList | None, list_id: str) -> PriceList:
    """A list a dry run may try as if active: an existing DRAFT."""
    if price_list is None:
        raise list_not_found(list_id)
    if price_list.status is not ListStatus.DRAFT:
        _refuse(
            price_list,
            "LIST_NOT_DRAFT",
            f"price list {list_id} is {price_list.status.value.lower()}, not a draft",
        )
    return price_list


def place_pending(
    pending: Sequence[PriceVersion], lists: Mapping[str, PriceList], now: datetime
) -> tuple[list[PriceVersion], dict[str, PriceList]]:
    """A dry run's pending prices in the lists ``SetPrice`` would record them into: the
    one named (``check_target``), or the scope's active OVERRIDE list, or a new one
    (``implicit_list``, id ``pending-list-N``) when the scope has none. Returns the
    versions with their list and scope, and the lists with any new ones."""
    placed: list[PriceVersion] = []
    found = dict(lists)
    for version in pending:
        if version.list_id:
            target = found.get(version.list_id)
            if target is None:
                raise list_not_found(version.list_id)
            check_target(target, version.scope.currency_code)
        else:
            target = next(
                (
                    p
                    for p in found.values()
                    if p.scope == version.scope
                    and p.kind is ListKind.OVERRIDE
                    and p.status is ListStatus.ACTIVE
                ),
                None,
            )
            if target is None:
                list_id = f"pending-list-{len(placed)}"
                terms = implicit_list(version.scope, now)
                target = PriceList(list_id, terms, ListStatus.ACTIVE, now, now)
                found[list_id] = target
        placed.append(replace(version, list_id=target.list_id, scope=target.scope))
    return placed, found
