"""Named price lists over real gRPC: create, read, list, activate and archive; only active
lists price; sale and relative lists; drafts tried in a dry run; precise refusals."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from stockroom.common.errors import FailedPrecondition, InvalidArgument, NotFound
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .test_api import cart, cents, usd

if TYPE_CHECKING:
    Stub = pb_grpc.PricingServiceAsyncStub


async def create_list(stub: Stub, name: str, **fields: object) -> pb.PriceList:
    fields.setdefault("currency_code", "USD")
    given = pb.PriceList(display_name=name, **fields)  # type: ignore[arg-type]
    if not given.kind:
        given.kind = pb.PRICE_LIST_KIND_OVERRIDE
    request = pb.CreatePriceListRequest(request_id=str(uuid.uuid4()), price_list=given)
    return (await stub.CreatePriceList(request)).price_list


async def set_status(
    stub: Stub, price_list: pb.PriceList, status: int, *, replace_active: bool = False
) -> pb.UpdatePriceListStatusResponse:
    return await stub.UpdatePriceListStatus(
        pb.UpdatePriceListStatusRequest(
            price_list_id=price_list.price_list_id,
            status=status,  # type: ignore[arg-type]
            replace_active=replace_active,
        )
    )


async def price_in(stub: Stub, price_list: pb.PriceList, sku: str, units: int) -> pb.Price:
    request = pb.SetPriceRequest(
        sku=sku, unit_price=usd(units), price_list_id=price_list.price_list_id
    )
    return (await stub.SetPrice(request)).price


async def unit_cents(stub: Stub, sku: str, **fields: object) -> int:
    request = pb.GetPriceRequest(sku=sku, currency_code="USD", **fields)  # type: ignore[arg-type]
    return cents((await stub.GetPrice(request)).price.unit_price)


async def test_a_list_is_created_a_draft_activated_and_archived_forward_only(
    pricing: Stub,
) -> None:
    created = await create_list(pricing, "Web retail", channel="web")
    request_id = str(uuid.uuid4())
    retried = [
        (
            await pricing.CreatePriceList(
                pb.CreatePriceListRequest(
                    request_id=request_id,
                    price_list=pb.PriceList(
                        display_name="Once", currency_code="USD", kind=pb.PRICE_LIST_KIND_SALE
                    ),
                )
            )
        ).price_list
        for _ in range(2)
    ]
    active = (await set_status(pricing, created, pb.PRICE_LIST_STATUS_ACTIVE)).price_list
    again = (await set_status(pricing, created, pb.PRICE_LIST_STATUS_ACTIVE)).price_list
    archived = (await set_status(pricing, created, pb.PRICE_LIST_STATUS_ARCHIVED)).price_list
    read = (
        await pricing.GetPriceList(pb.GetPriceListRequest(price_list_id=created.price_list_id))
    ).price_list
    drafts = await pricing.ListPriceLists(
        pb.ListPriceListsRequest(statuses=[pb.PRICE_LIST_STATUS_DRAFT])
    )
    first_page = await pricing.ListPriceLists(pb.ListPriceListsRequest(page_size=1))
    second_page = await pricing.ListPriceLists(
        pb.ListPriceListsRequest(page_size=1, page_token=first_page.next_page_token)
    )

    assert created.status == pb.PRICE_LIST_STATUS_DRAFT
    assert not created.HasField("activate_time")
    assert (created.display_name, created.channel, created.kind) == (
        "Web retail",
        "web",
        pb.PRICE_LIST_KIND_OVERRIDE,
    )
    assert retried[0] == retried[1]  # one list per request id
    assert active.status == pb.PRICE_LIST_STATUS_ACTIVE
    assert active.HasField("activate_time")
    assert again == active  # the status it has: nothing changes
    assert archived.status == pb.PRICE_LIST_STATUS_ARCHIVED
    assert archived.activate_time == active.activate_time
    assert read == archived
    assert [p.price_list_id for p in drafts.price_lists] == [retried[0].price_list_id]
    assert [p.price_list_id for p in [*first_page.price_lists, *second_page.price_lists]] == [
        created.price_list_id,
        retried[0].price_list_id,
    ]
    with pytest.raises(FailedPrecondition) as back:
        await set_status(pricing, created, pb.PRICE_LIST_STATUS_ACTIVE)
    assert back.value.reason == "LIST_ARCHIVED"
    await set_status(pricing, retried[0], pb.PRICE_LIST_STATUS_ACTIVE)
    with pytest.raises(FailedPrecondition) as to_draft:
        await set_status(pricing, retried[0], pb.PRICE_LIST_STATUS_DRAFT)
    assert to_draft.value.reason == "LIST_WAS_ACTIVE"


async def test_only_active_lists_price_and_archived_ones_keep_their_history(
    pricing: Stub,
) -> None:
    regular = await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    implicit = (
        await pricing.GetPriceList(
            pb.GetPriceListRequest(price_list_id=regular.price.price_list_id)
        )
    ).price_list
    draft = await create_list(pricing, "Next year")
    await price_in(pricing, draft, "MUG", 12)
    before = await unit_cents(pricing, "MUG")

    with pytest.raises(FailedPrecondition) as taken:
        await set_status(pricing, draft, pb.PRICE_LIST_STATUS_ACTIVE)
    swapped = await set_status(pricing, draft, pb.PRICE_LIST_STATUS_ACTIVE, replace_active=True)
    after = await unit_cents(pricing, "MUG")
    at_first = await unit_cents(pricing, "MUG", price_time=regular.price.record_time)
    implicit_now = (
        await pricing.GetPriceList(pb.GetPriceListRequest(price_list_id=implicit.price_list_id))
    ).price_list
    # Without a list id, a price goes to the scope's active override list: the new one.
    await pricing.SetPrice(pb.SetPriceRequest(sku="TEE", unit_price=usd(5)))
    listed = await pricing.ListPricesInList(pb.ListPricesInListRequest(currency_code="USD"))
    history = await pricing.ListPricesInList(
        pb.ListPricesInListRequest(price_list_id=implicit.price_list_id)
    )

    assert (implicit.display_name, implicit.status) == ("USD/*/*", pb.PRICE_LIST_STATUS_ACTIVE)
    assert before == 1000  # the draft prices nothing
    assert taken.value.reason == "SCOPE_HAS_ACTIVE_LIST"
    assert swapped.replaced.price_list_id == implicit.price_list_id
    assert swapped.replaced.archive_time == swapped.price_list.activate_time
    assert after == 1200
    assert at_first == 1000  # the past is not rewritten
    assert implicit_now.status == pb.PRICE_LIST_STATUS_ARCHIVED
    assert [p.sku for p in listed.prices] == ["MUG", "TEE"]
    assert [p.price_id for p in history.prices] == [regular.price.price_id]
    with pytest.raises(FailedPrecondition) as closed:
        await price_in(pricing, implicit_now, "MUG", 1)
    assert closed.value.reason == "LIST_ARCHIVED"


async def test_a_sale_list_lowers_a_price_only_where_it_charges_less(pricing: Stub) -> None:
    await pricing.SetPrice(
        pb.SetPriceRequest(
            sku="TEE",
            tiers=[
                pb.PriceTier(up_to=10, unit_amount=usd(20)),
                pb.PriceTier(up_to=0, unit_amount=usd(10)),
            ],
            tiers_mode=pb.TIERS_MODE_VOLUME,
        )
    )
    sale = await create_list(pricing, "Summer", kind=pb.PRICE_LIST_KIND_SALE)
    on_sale = await price_in(pricing, sale, "TEE", 15)
    await set_status(pricing, sale, pb.PRICE_LIST_STATUS_ACTIVE)

    few = await pricing.Quote(cart(("TEE", 2), explain=True))
    many = await pricing.Quote(cart(("TEE", 20)))
    one = await pricing.GetPrice(pb.GetPriceRequest(sku="TEE", currency_code="USD", explain=True))
    bulk = await pricing.GetPrice(pb.GetPriceRequest(sku="TEE", currency_code="USD", quantity=20))

    assert cents(few.lines[0].total) == 3000  # the sale: 2 x 15 < 2 x 20
    assert few.lines[0].price_list_id == sale.price_list_id
    verdicts = [c.verdict for c in few.lines[0].explanation.price.candidates]
    assert verdicts == [pb.CANDIDATE_VERDICT_NOT_LOWEST, pb.CANDIDATE_VERDICT_CHOSEN]
    assert "sale list 'Summer'" in few.lines[0].explanation.price.fallback
    assert cents(many.lines[0].total) == 20000  # 20 x 10 < 20 x 15: the regular price
    assert one.price.price_id == on_sale.price_id
    assert one.explanation.price_list.kind == pb.PRICE_LIST_KIND_SALE
    assert bulk.price.price_list_id != sale.price_list_id


async def test_a_relative_list_prices_its_base_adjusted_exactly(pricing: Stub) -> None:
    base = (await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10, 5)))).price
    outlet = await create_list(
        pricing,
        "Outlet",
        channel="outlet",
        base_price_list_id=base.price_list_id,
        adjustment_basis_points=-1000,
    )
    await set_status(pricing, outlet, pb.PRICE_LIST_STATUS_ACTIVE)

    quoted = await pricing.Quote(cart(("MUG", 3), channel="outlet"))
    listed = await pricing.ListPricesInList(
        pb.ListPricesInListRequest(price_list_id=outlet.price_list_id)
    )
    elsewhere = await unit_cents(pricing, "MUG", channel="web")

    # 10.05 less 10 %: the cut 1.005 rounds half to even to 1.00, per unit.
    assert cents(quoted.lines[0].unit_price) == 905
    assert cents(quoted.lines[0].total) == 2715
    assert (quoted.lines[0].price_id, quoted.lines[0].price_list_id) == (
        base.price_id,
        outlet.price_list_id,
    )
    assert [(p.price_id, cents(p.unit_price)) for p in listed.prices] == [(base.price_id, 905)]
    assert elsewhere == 1005
    with pytest.raises(FailedPrecondition) as relative:
        await price_in(pricing, outlet, "MUG", 1)
    assert relative.value.reason == "LIST_IS_RELATIVE"
    with pytest.raises(FailedPrecondition) as chained:
        await create_list(
            pricing, "Chain", base_price_list_id=outlet.price_list_id, adjustment_basis_points=5
        )
    assert chained.value.reason == "BASE_IS_RELATIVE"


async def test_a_dry_run_tries_draft_lists_and_pending_prices_in_them(pricing: Stub) -> None:
    await pricing.SetPrice(pb.SetPriceRequest(sku="MUG", unit_price=usd(10)))
    draft = await create_list(pricing, "Proposal")
    await price_in(pricing, draft, "MUG", 11)
    proposal = [draft.price_list_id]

    tried = await pricing.Quote(
        cart(("MUG", 1), dry_run=True, draft_price_list_ids=proposal, explain=True)
    )
    pending = await pricing.Quote(
        cart(
            ("MUG", 1),
            dry_run=True,
            draft_price_list_ids=proposal,
            pending_prices=[
                pb.SetPriceRequest(sku="MUG", unit_price=usd(9), price_list_id=draft.price_list_id)
            ],
        )
    )
    today = await pricing.Quote(cart(("MUG", 1), dry_run=True))

    assert cents(tried.total) == 1100
    assert tried.lines[0].explanation.price.price_list.status == pb.PRICE_LIST_STATUS_DRAFT
    assert cents(pending.total) == 900
    assert cents(today.total) == 1000
    with pytest.raises(InvalidArgument) as stored:
        await pricing.Quote(cart(("MUG", 1), draft_price_list_ids=proposal))
    assert stored.value.reason == "DRY_RUN_ONLY"
    await set_status(pricing, draft, pb.PRICE_LIST_STATUS_ARCHIVED)
    with pytest.raises(FailedPrecondition) as archived:
        await pricing.Quote(cart(("MUG", 1), dry_run=True, draft_price_list_ids=proposal))
    assert archived.value.reason == "LIST_NOT_DRAFT"


async def test_bad_price_lists_get_precise_errors(pricing: Stub) -> None:
    euro = await create_list(pricing, "Euro", currency_code="EUR")

    cases: list[tuple[pb.CreatePriceListRequest, str]] = [
        (
            pb.CreatePriceListRequest(price_list=pb.PriceList(currency_code="USD")),
            "price_list.kind",
        ),
        (
            pb.CreatePriceListRequest(
                price_list=pb.PriceList(
                    display_name="x", currency_code="usd", kind=pb.PRICE_LIST_KIND_SALE
                )
            ),
            "price_list.currency_code",
        ),
        (
            pb.CreatePriceListRequest(
                price_list=pb.PriceList(
                    display_name="x",
                    currency_code="USD",
                    kind=pb.PRICE_LIST_KIND_SALE,
                    base_price_list_id=euro.price_list_id,
                    adjustment_basis_points=-10_001,
                )
            ),
            "price_list.adjustment_basis_points",
        ),
    ]
    for request, field in cases:
        with pytest.raises(InvalidArgument) as raised:
            await pricing.CreatePriceList(request)
        assert field in [v.field for v in raised.value.field_violations], field
    with pytest.raises(FailedPrecondition) as currency:
        await create_list(pricing, "Dollar", base_price_list_id=euro.price_list_id)
    assert currency.value.reason == "BASE_CURRENCY_MISMATCH"
    for missing in ("12345", "x", "²"):
        with pytest.raises(NotFound) as unknown:
            await pricing.GetPriceList(pb.GetPriceListRequest(price_list_id=missing))
        assert unknown.value.reason == "PRICE_LIST_NOT_FOUND"
    with pytest.raises(InvalidArgument) as scoped:
        await pricing.SetPrice(
            pb.SetPriceRequest(
                sku="MUG", unit_price=usd(1), channel="web", price_list_id=euro.price_list_id
            )
        )
    assert scoped.value.reason == "SCOPE_WITH_LIST"
    with pytest.raises(InvalidArgument) as mismatch:
        await price_in(pricing, euro, "MUG", 1)
    assert mismatch.value.reason == "CURRENCY_MISMATCH"
    with pytest.raises(InvalidArgument) as status:
        await set_status(pricing, euro, pb.PRICE_LIST_STATUS_UNSPECIFIED)
    assert status.value.reason == "UNKNOWN_ENUM_VALUE"
    with pytest.raises(InvalidArgument) as quantity:
        await pricing.GetPrice(pb.GetPriceRequest(sku="MUG", currency_code="USD", quantity=-1))
    assert quantity.value.reason == "NOT_POSITIVE"
