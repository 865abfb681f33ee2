"""A scope never has two regular price lists at once, and an archived list takes no price:
many concurrent callers through two replicas on one PostgreSQL.

- Drafts of one scope activated at once: exactly one wins, every other caller is
  refused with SCOPE_HAS_ACTIVE_LIST (nothing else).
- The same with replace_active: every activation succeeds, one after the other, so
  the lists' active periods follow each other without overlapping, and one is left.
- SetPrice without a list, for a scope that has none, from many callers at once:
  one implicit list is made, and every price is in it.
- SetPrice into a list racing its archive: a price is recorded before the archive or
  refused with LIST_ARCHIVED; none is recorded into the list after it.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from stockroom.common.errors import FailedPrecondition
from stockroom.common.testing import PATIENT_POLICY
from stockroom.pricing.v1 import pricing_pb2 as pb
from stockroom.pricing.v1 import pricing_pb2_grpc as pb_grpc

from .conftest import replicas_of
from .test_api import usd
from .test_price_lists_api import create_list, set_status

if TYPE_CHECKING:
    Stub = pb_grpc.PricingServiceAsyncStub

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Price and list writes queue on one lock: on a loaded machine a caller may be told to
# come back (UNAVAILABLE with RetryInfo), which the client's retries do, as real ones would
# (PATIENT_POLICY keeps the default retries).
NO_INVENTORY = "127.0.0.1:1"  # nothing here quotes
T = TypeVar("T")


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[Stub]]:
    async with replicas_of(postgres_url, NO_INVENTORY, PATIENT_POLICY, {}, {}) as stubs:
        yield stubs


async def race(
    replicas: list[Stub], count: int, call: Callable[[Stub, int], Awaitable[T]]
) -> tuple[list[T], Counter[str]]:
    """``call`` ``count`` times at once, alternating replicas: the answers and the reasons
    of the FAILED_PRECONDITION refusals (any other error fails the test)."""

    async def one(i: int) -> T | str:
        try:
            return await call(replicas[i % len(replicas)], i)
        except FailedPrecondition as error:
            return error.reason

    outcomes = await asyncio.gather(*(one(i) for i in range(count)))
    done = [o for o in outcomes if not isinstance(o, str)]
    return done, Counter(o for o in outcomes if isinstance(o, str))


async def lists_of_scope(stub: Stub, channel: str) -> list[pb.PriceList]:
    found = await stub.ListPriceLists(pb.ListPriceListsRequest(currency_code="USD", page_size=1000))
    return [p for p in found.price_lists if p.channel == channel]


async def test_one_of_many_drafts_activated_at_once_becomes_the_regular_list(
    replicas: list[Stub],
) -> None:
    drafts = [await create_list(replicas[0], f"Draft {i}", channel="web") for i in range(12)]

    async def activate(stub: Stub, i: int) -> pb.UpdatePriceListStatusResponse:
        return await set_status(stub, drafts[i], pb.PRICE_LIST_STATUS_ACTIVE)

    done, refused = await race(replicas, len(drafts), activate)

    active = [
        p
        for p in await lists_of_scope(replicas[1], "web")
        if p.status == pb.PRICE_LIST_STATUS_ACTIVE
    ]
    assert len(done) == 1
    assert refused == Counter({"SCOPE_HAS_ACTIVE_LIST": len(drafts) - 1})
    assert [p.price_list_id for p in active] == [done[0].price_list.price_list_id]


async def test_replacing_activations_at_once_never_overlap(replicas: list[Stub]) -> None:
    drafts = [await create_list(replicas[0], f"Draft {i}", channel="shop") for i in range(12)]

    async def replace(stub: Stub, i: int) -> pb.UpdatePriceListStatusResponse:
        return await set_status(stub, drafts[i], pb.PRICE_LIST_STATUS_ACTIVE, replace_active=True)

    done, refused = await race(replicas, len(drafts), replace)

    lists = await lists_of_scope(replicas[1], "shop")
    periods = sorted(
        (
            p.activate_time.ToNanoseconds(),
            p.archive_time.ToNanoseconds() if p.HasField("archive_time") else 2**63,
        )
        for p in lists
    )
    assert len(done) == len(drafts)
    assert refused == Counter()
    assert [p.status for p in lists].count(pb.PRICE_LIST_STATUS_ACTIVE) == 1
    assert [p.status for p in lists].count(pb.PRICE_LIST_STATUS_ARCHIVED) == len(drafts) - 1
    for (_, ended), (started, _) in itertools.pairwise(periods):
        assert ended <= started  # each list's period ends before the next one's begins
    assert sum(1 for r in done if r.HasField("replaced")) == len(drafts) - 1


async def test_concurrent_prices_for_a_new_scope_make_one_list(replicas: list[Stub]) -> None:
    async def set_price(stub: Stub, i: int) -> pb.Price:
        request = pb.SetPriceRequest(
            sku=f"SKU-{i}", unit_price=usd(i + 1), channel="pop-up", request_id=str(uuid.uuid4())
        )
        return (await stub.SetPrice(request)).price

    done, refused = await race(replicas, 20, set_price)

    lists = await lists_of_scope(replicas[0], "pop-up")
    assert refused == Counter()
    assert len(done) == 20
    assert [(p.display_name, p.status) for p in lists] == [
        ("USD/pop-up/*", pb.PRICE_LIST_STATUS_ACTIVE)
    ]
    assert {p.price_list_id for p in done} == {lists[0].price_list_id}


async def test_no_price_is_recorded_into_a_list_after_its_archive(replicas: list[Stub]) -> None:
    target = await create_list(replicas[0], "Closing", channel="closing")

    async def price_or_archive(stub: Stub, i: int) -> pb.Price | pb.UpdatePriceListStatusResponse:
        if i == 15:
            return await set_status(stub, target, pb.PRICE_LIST_STATUS_ARCHIVED)
        request = pb.SetPriceRequest(
            sku=f"SKU-{i}",
            unit_price=usd(1),
            price_list_id=target.price_list_id,
            request_id=str(uuid.uuid4()),
        )
        return (await stub.SetPrice(request)).price

    done, refused = await race(replicas, 30, price_or_archive)

    (archive,) = [r for r in done if isinstance(r, pb.UpdatePriceListStatusResponse)]
    prices = [r for r in done if isinstance(r, pb.Price)]
    listed = await replicas[1].ListPricesInList(
        pb.ListPricesInListRequest(price_list_id=target.price_list_id, page_size=1000)
    )
    archived_at = archive.price_list.archive_time.ToNanoseconds()
    assert set(refused) <= {"LIST_ARCHIVED"}
    assert len(prices) + refused["LIST_ARCHIVED"] == 29
    assert sorted(p.price_id for p in listed.prices) == sorted(p.price_id for p in prices)
    assert all(p.record_time.ToNanoseconds() <= archived_at for p in listed.prices)
