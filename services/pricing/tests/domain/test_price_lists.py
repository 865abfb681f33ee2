"""Named price lists: relative prices are exact and never negative, status moves forward only,
and the one precedence (override, sale, scope fallbacks, drafts tried in a dry run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.errors import FailedPrecondition, NotFound
from stockroom.pricing.domain.explain import Verdict, explain_price
from stockroom.pricing.domain.money import MAX_AMOUNT_MINOR, RoundingMode, percentage_of
from stockroom.pricing.domain.price_choice import ListView, candidates, choose, decide
from stockroom.pricing.domain.price_lists import (
    MAX_ADJUSTMENT_BP,
    ListKind,
    ListStatus,
    PriceList,
    PriceListTerms,
    Relative,
    change_status,
    check_trial,
    place_pending,
    relative_schedule,
)
from stockroom.pricing.domain.prices import PriceListScope, PriceVersion
from stockroom.pricing.domain.rounding import adjust
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode

T0 = datetime(2030, 1, 1, tzinfo=UTC)
USD = PriceListScope("USD")
WEB = PriceListScope("USD", channel="web")
VIP = PriceListScope("USD", customer_group="vip")
MODES = {RoundingMode.HALF_EVEN: ROUND_HALF_EVEN, RoundingMode.HALF_UP: ROUND_HALF_UP}

amounts = st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR)
adjustments = st.integers(min_value=-MAX_ADJUSTMENT_BP, max_value=MAX_ADJUSTMENT_BP)
modes = st.sampled_from(list(RoundingMode))


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def reference_adjust(amount: int, basis_points: int, mode: RoundingMode) -> int:
    """The README's rule written again with Decimal: the change is the percentage of the
    amount, rounded once by the mode (symmetric around zero), added to the amount."""
    with localcontext() as context:
        context.prec = 60
        change = Decimal(amount) * basis_points / 10_000
        return amount + int(change.quantize(Decimal(1), rounding=MODES[mode]))


@given(amounts, adjustments, modes)
def test_a_relative_amount_is_the_one_rule_exactly(
    amount: int, bp: int, mode: RoundingMode
) -> None:
    assert adjust(amount, bp, mode) == reference_adjust(amount, bp, mode)


@given(amounts, adjustments, modes)
def test_a_relative_amount_is_never_negative_and_within_half_a_minor_unit(
    amount: int, bp: int, mode: RoundingMode
) -> None:
    adjusted = adjust(amount, bp, mode)
    exact_times_2 = 2 * amount * (10_000 + bp)  # twice the exact value, times 10 000

    assert adjusted >= 0
    assert abs(adjusted * 20_000 - exact_times_2) <= 10_000  # |adjusted - exact| <= 1/2


@given(amounts, st.integers(min_value=0, max_value=MAX_ADJUSTMENT_BP), modes)
def test_a_cut_is_what_a_promotion_of_that_percentage_takes_off(
    amount: int, bp: int, mode: RoundingMode
) -> None:
    assert adjust(amount, -bp, mode) == amount - percentage_of(amount, bp, mode)
    assert adjust(amount, -bp, mode) + adjust(amount, bp, mode) == 2 * amount  # symmetric


@given(amounts, adjustments, adjustments, modes)
def test_a_larger_adjustment_never_gives_a_smaller_amount(
    amount: int, first: int, second: int, mode: RoundingMode
) -> None:
    low, high = sorted((first, second))
    assert adjust(amount, low, mode) <= adjust(amount, high, mode)


def test_the_documented_examples() -> None:
    # 10 % below 10.05: the cut is 1.005, half to even 1.00, half up 1.01.
    assert adjust(1005, -1000, RoundingMode.HALF_EVEN) == 905
    assert adjust(1005, -1000, RoundingMode.HALF_UP) == 904
    assert adjust(1999, -10_000, RoundingMode.HALF_EVEN) == 0  # -100 %: free, not negative
    assert adjust(1999, 10_000, RoundingMode.HALF_EVEN) == 3998
    with pytest.raises(ValueError, match="100 %"):
        adjust(100, -10_001, RoundingMode.HALF_EVEN)


@given(st.lists(st.tuples(amounts, amounts), min_size=1, max_size=4), adjustments, modes)
def test_a_relative_price_adjusts_every_amount_and_keeps_the_tiers(
    amounts_: list[tuple[int, int]], bp: int, mode: RoundingMode
) -> None:
    tiers = tuple(
        Tier(None if i == len(amounts_) - 1 else 10 * (i + 1), unit, flat)
        for i, (unit, flat) in enumerate(amounts_)
    )
    schedule = PriceSchedule(tiers, TiersMode.GRADUATED)

    relative = relative_schedule(schedule, bp, mode)

    assert relative.mode is schedule.mode
    assert [t.up_to for t in relative.tiers] == [t.up_to for t in tiers]
    assert [(t.unit_amount_minor, t.flat_amount_minor) for t in relative.tiers] == [
        (adjust(t.unit_amount_minor, bp, mode), adjust(t.flat_amount_minor, bp, mode))
        for t in tiers
    ]


def price_list(
    list_id: str,
    scope: PriceListScope = USD,
    kind: ListKind = ListKind.OVERRIDE,
    status: ListStatus = ListStatus.ACTIVE,
    *,
    activated: float | None = 0,
    archived: float | None = None,
    relative: Relative | None = None,
) -> PriceList:
    return PriceList(
        list_id,
        PriceListTerms(f"list {list_id}", scope, kind, relative),
        status,
        at(0),
        None if activated is None else at(activated),
        None if archived is None else at(archived),
    )


def version(
    price_id: str, list_id: str, unit: int, scope: PriceListScope = USD, valid_from: float = 0
) -> PriceVersion:
    return PriceVersion(
        price_id,
        "MUG",
        scope,
        PriceSchedule.per_unit(unit),
        at(valid_from),
        None,
        at(valid_from),
        list_id=list_id,
    )


def lists_of(*found: PriceList) -> dict[str, PriceList]:
    return {p.list_id: p for p in found}


def test_the_most_specific_override_list_with_a_price_gives_the_regular_price() -> None:
    lists = lists_of(price_list("1"), price_list("2", WEB), price_list("3", VIP))
    versions = [
        version("10", "1", 1000),
        version("11", "2", 950, WEB),
        version("12", "3", 900, VIP),
    ]

    def chosen(scope: PriceListScope) -> str | None:
        found = choose(versions, ListView(lists), scope, at(1))
        return None if found is None else found.price_id

    assert chosen(PriceListScope("USD", "web", "vip")) == "12"  # group first
    assert chosen(WEB) == "11"
    assert chosen(PriceListScope("USD", "shop")) == "10"  # falls back to every channel


def test_only_lists_in_force_at_the_moment_price() -> None:
    lists = lists_of(
        price_list("1", archived=10),  # archived on day 10: its history stays
        price_list("2", WEB, status=ListStatus.DRAFT, activated=None),
        price_list("3", VIP, activated=5),  # activated on day 5
    )
    versions = [version("10", "1", 1000), version("11", "2", 1, WEB), version("12", "3", 2, VIP)]
    view = ListView(lists)

    def chosen(scope: PriceListScope, day: float) -> str | None:
        found = choose(versions, view, scope, at(day))
        return None if found is None else found.price_id

    assert chosen(WEB, 1) == "10"  # the draft prices nothing
    assert chosen(VIP, 1) == "10"  # not active yet on day 1
    assert chosen(VIP, 6) == "12"
    assert chosen(USD, 9) == "10"  # before the archive: answered as it always was
    assert chosen(USD, 10) is None
    # A dry run may try the draft: it counts as active.
    assert choose(versions, ListView(lists, frozenset({"2"})), WEB, at(1)) == versions[1]


def test_a_tried_override_draft_takes_the_place_of_its_scopes_active_list() -> None:
    lists = lists_of(price_list("1"), price_list("2", status=ListStatus.DRAFT, activated=None))
    versions = [version("10", "1", 1000), version("11", "2", 1200)]
    view = ListView(lists, frozenset({"2"}))

    explanation = explain_price(versions, view, USD, at(1))

    assert choose(versions, view, USD, at(1)) == versions[1]  # dearer, but it replaces "1"
    assert [c.verdict for c in explanation.candidates] == [
        Verdict.LIST_NOT_ACTIVE,
        Verdict.CHOSEN,
    ]
    assert "replaces its list" in explanation.candidates[0].reason


def test_a_sale_price_applies_only_where_it_charges_less() -> None:
    tiers = PriceSchedule((Tier(10, 1000), Tier(None, 500)), TiersMode.VOLUME)
    regular = PriceVersion("10", "MUG", USD, tiers, at(0), None, at(0), list_id="1")
    lists = lists_of(
        price_list("1"),
        price_list("2", kind=ListKind.SALE),
        price_list("3", WEB, kind=ListKind.SALE),
    )
    versions = [regular, version("11", "2", 800), version("12", "3", 700, WEB)]
    view = ListView(lists)

    assert choose(versions, view, USD, at(1), quantity=1) == versions[1]  # 8.00 < 10.00
    assert choose(versions, view, USD, at(1), quantity=20) == regular  # 100.00 < 160.00
    assert choose(versions, view, WEB, at(1), quantity=1) == versions[2]  # the lowest sale
    decision = decide(versions, view, WEB, at(1))
    assert decision.regular == regular
    assert decision.sale_applied
    labelled = {
        c.version.price_id: c.verdict for c in explain_price(versions, view, WEB, at(1)).candidates
    }
    assert labelled == {"10": Verdict.NOT_LOWEST, "11": Verdict.NOT_LOWEST, "12": Verdict.CHOSEN}


def test_a_sale_price_without_a_regular_one_applies_and_a_tie_keeps_the_regular() -> None:
    lists = lists_of(price_list("1"), price_list("2", kind=ListKind.SALE))
    view = ListView(lists)

    only_sale = [version("11", "2", 800)]
    tie = [version("10", "1", 800), version("11", "2", 800)]

    assert choose(only_sale, view, USD, at(1)) == only_sale[0]
    assert choose(tie, view, USD, at(1)) == tie[0]  # a sale never replaces an equal price


def test_a_relative_list_prices_its_bases_versions_adjusted() -> None:
    lists = lists_of(
        price_list("1", status=ListStatus.DRAFT, activated=None),  # a base need not be active
        price_list("2", WEB, relative=Relative("1", -1000)),
    )
    base = [version("10", "1", 1005), version("11", "1", 2000, valid_from=5)]
    versions = candidates(base, lists, RoundingMode.HALF_EVEN)

    early = choose(versions, ListView(lists), WEB, at(1))
    late = choose(versions, ListView(lists), WEB, at(6))

    assert len(versions) == 4  # each base version, and its adjusted copy
    assert early is not None
    assert late is not None
    assert (early.price_id, early.list_id, early.scope) == ("10", "2", WEB)
    assert early.schedule.unit_amount_minor == 905  # 10.05 less 1.005, half to even
    assert late.schedule.unit_amount_minor == 1800
    assert choose(versions, ListView(lists), USD, at(1)) is None  # the draft base prices nothing


def test_status_moves_forward_only_and_each_step_is_stamped() -> None:
    draft = price_list("1", status=ListStatus.DRAFT, activated=None)

    active = change_status(draft, ListStatus.ACTIVE, at(3))
    assert active is not None
    assert active.activated_at == at(3)
    archived = change_status(active, ListStatus.ARCHIVED, at(4))
    assert archived is not None
    assert (archived.activated_at, archived.archived_at) == (at(3), at(4))
    assert change_status(active, ListStatus.ACTIVE, at(5)) is None  # already so: nothing
    with pytest.raises(FailedPrecondition) as back:
        change_status(active, ListStatus.DRAFT, at(5))
    assert back.value.reason == "LIST_WAS_ACTIVE"
    with pytest.raises(FailedPrecondition) as again:
        change_status(archived, ListStatus.ACTIVE, at(5))
    assert again.value.reason == "LIST_ARCHIVED"
    dropped = change_status(draft, ListStatus.ARCHIVED, at(5))
    assert dropped is not None
    assert dropped.activated_at is None
    assert not dropped.in_force_at(at(6))


def test_a_dry_run_places_pending_prices_as_set_price_would_and_tries_only_drafts() -> None:
    lists = lists_of(price_list("1"), price_list("2", WEB, status=ListStatus.DRAFT, activated=None))
    pending = [
        version("pending-0", "", 100),  # USD: the scope's active list
        version("pending-1", "2", 200),  # into the draft, named
        version("pending-2", "", 300, VIP),  # no list for VIP yet: a new one, as SetPrice makes
    ]

    placed, found = place_pending(pending, lists, at(1))

    assert [(v.list_id, v.scope) for v in placed] == [
        ("1", USD),
        ("2", WEB),
        ("pending-list-2", VIP),
    ]
    assert found["pending-list-2"].in_force_at(at(1))
    assert check_trial(lists["2"], "2") == lists["2"]
    with pytest.raises(FailedPrecondition) as active:
        check_trial(lists["1"], "1")
    assert active.value.reason == "LIST_NOT_DRAFT"
    with pytest.raises(NotFound):
        check_trial(None, "9")
