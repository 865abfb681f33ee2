"""Property-based fuzz of every RPC of both services: bad input only ever gets a client error.

Hypothesis builds requests from each method's request descriptor (random and
extreme field values, long repeated fields, deep nesting) or sends random
bytes as the body, through a raw channel with identity serializers, so the
server's own decoding is on trial too. Every answer must be OK or a
client-error code (never INTERNAL, UNKNOWN, or a local RESOURCE_EXHAUSTED from
an oversized error), every error's trailers must fit in 8 KiB, and no request
may log a traceback.

The servers run on their own event loop in a thread, so the properties are
plain synchronous Hypothesis tests against real servers (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import urllib.parse
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockroom.common.client import connect
from stockroom.common.db import encode_page_token, migrate
from stockroom.common.server import GrpcServer, ServerConfig
from stockroom.common.testing import handed_to_a_closed_loop, temporary_database
from stockroom.common.testing.pytest_plugin import require_postgres
from stockroom.inventory import app as inventory_app
from stockroom.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from stockroom.pricing import app as pricing_app
from stockroom.pricing.v1 import pricing_pb2

T = TypeVar("T")
CLIENT_ERRORS = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.ABORTED,
    }
)
MAX_TRAILERS_BYTES = 8 * 1024
# Generous: a loaded two-core machine must never turn a slow answer into a failure.
CALL_TIMEOUT_S = 60.0
# A watch that was accepted streams until its deadline; the deadline ends it, not a failure.
STREAM_TIMEOUT_S = 0.5

SERVICES = (
    inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    pricing_pb2.DESCRIPTOR.services_by_name["PricingService"],
)
METHODS: list[MethodDescriptor] = [m for service in SERVICES for m in service.methods]

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "MUG\x00",
    "²",
    "\U0001d510\U0001d518\U0001d50a",  # outside the BMP
    "MUG",
    "WH-1",
    "A" * 20_000,
    "é" * 5_000,
    "123",
    "-1",
    "9" * 40,
    "7B0C4A52-3F4E-4C43-9A43-3BD7F04A3C71",
    "urn:uuid:7b0c4a52-3f4e-4c43-9a43-3bd7f04a3c71",
    "{7b0c4a52-3f4e-4c43-9a43-3bd7f04a3c71}",
    "7b0c4a52-3f4e-4c43-9a43-3bd7f04a3c71",
    "EUR",
    "JPY",
    "../../etc/passwd",
    "' OR 1=1 --",
    "eyJjIjpbOTIyMzM3MjAzNjg1NDc3NTgwOF0sImYiOiIifQ",  # a page token past int64
    "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb" * 20,  # deeply nested JSON
]
_LONG = (0, 1, 2, 3, 600)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INT_BOUNDS:
        low, high = _INT_BOUNDS[kind]
        return st.one_of(
            st.integers(low, high), st.sampled_from([low, high, 0, 1, -1 if low else 2])
        )
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(_NASTY_TEXT), st.text(max_size=80))
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    raise AssertionError(f"unhandled field type {kind}")


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, depth + 1)
    return _scalar(field)


def _repeated(element: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A few random elements, or one element many times (long repeated fields)."""
    return st.one_of(
        st.lists(element, max_size=4),
        st.builds(lambda value, count: [value] * count, element, st.sampled_from(_LONG)),
    )


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of fields set to random or extreme values."""
    cls = GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if is_map:
            entry = field.message_type
            assert entry is not None
            fields[field.name] = st.dictionaries(
                _value(entry.fields_by_name["key"], depth),
                _value(entry.fields_by_name["value"], depth),
                max_size=3,
            )
        elif field.is_repeated:
            fields[field.name] = _repeated(_value(field, depth))
        else:
            fields[field.name] = _value(field, depth)
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif isinstance(value, list):
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                target.extend(value)
            else:
                target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


@st.composite
def calls(draw: st.DrawFn) -> tuple[MethodDescriptor, bytes]:
    """A method and the body to send it: a generated request, or random bytes."""
    method = draw(st.sampled_from(METHODS))
    if draw(st.integers(0, 4)) == 0:
        return method, draw(st.binary(max_size=200))
    return method, draw(messages(method.input_type)).SerializeToString()


class BackgroundServers:
    """An inventory and a pricing server on their own event loop, in a thread."""

    def __init__(self, postgres: bool, directory: Path) -> None:
        self._postgres = postgres
        self._directory = directory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = AsyncExitStack()
        self._channels: dict[str, grpc.Channel] = {}

    def channel_for(self, service: str) -> grpc.Channel:
        return self._channels[service]

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=120)

    def __enter__(self) -> BackgroundServers:
        self._thread.start()
        inventory, pricing = self._run(self._start())
        self._channels = {
            SERVICES[0].full_name: grpc.insecure_channel(inventory),
            SERVICES[1].full_name: grpc.insecure_channel(pricing),
        }
        return self

    def __exit__(self, *exc: object) -> None:
        for channel in self._channels.values():
            channel.close()
        self._run(self._stack.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _database(self, name: str) -> str:
        if self._postgres:
            return await self._stack.enter_async_context(temporary_database())
        return f"sqlite+aiosqlite:///{self._directory / name}.db"

    async def _serve(self, server: GrpcServer) -> str:
        port = await server.start()
        self._stack.push_async_callback(server.stop, 0)
        return f"127.0.0.1:{port}"

    async def _start(self) -> tuple[str, str]:
        inventory_url = await self._database("inventory")
        await migrate(inventory_app.MIGRATIONS, inventory_url)
        inventory = await self._serve(
            await inventory_app.build_server(
                inventory_app.InventorySettings(
                    ServerConfig(service_name="inventory", port=0, database_url=inventory_url)
                )
            )
        )
        await self._seed(inventory)
        pricing_url = await self._database("pricing")
        await migrate(pricing_app.MIGRATIONS, pricing_url)
        config = pricing_app.PricingSettings(
            ServerConfig(service_name="pricing", port=0, database_url=pricing_url), inventory
        )
        pricing = await self._serve(await pricing_app.build_server(config))
        return inventory, pricing

    async def _seed(self, address: str) -> None:
        """A location and an item, so generated requests that name them get past NOT_FOUND."""
        async with connect(address) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            await stub.CreateLocation(
                inventory_pb2.CreateLocationRequest(
                    location=inventory_pb2.Location(
                        location_id="WH-1", kind=inventory_pb2.LOCATION_KIND_WAREHOUSE
                    ),
                    request_id=str(uuid.uuid4()),
                )
            )
            await stub.CreateItem(
                inventory_pb2.CreateItemRequest(
                    item=inventory_pb2.Item(sku="MUG"), request_id=str(uuid.uuid4())
                )
            )
            await stub.ReceiveStock(
                inventory_pb2.ReceiveStockRequest(
                    sku="MUG", location_id="WH-1", quantity=5, request_id=str(uuid.uuid4())
                )
            )
            # A policy and an expected receipt, so generated writes reach backorders and
            # receipts against an expected receipt.
            await stub.SetInventoryPolicy(
                inventory_pb2.SetInventoryPolicyRequest(
                    policy=inventory_pb2.InventoryPolicy(
                        sku="MUG",
                        mode=inventory_pb2.INVENTORY_POLICY_MODE_BACKORDER,
                        backorder_limit=1000,
                    ),
                    request_id=str(uuid.uuid4()),
                )
            )
            await stub.CreateExpectedReceipt(
                inventory_pb2.CreateExpectedReceiptRequest(
                    expected_receipt=inventory_pb2.ExpectedReceipt(
                        expected_receipt_id="MUG",
                        sku="MUG",
                        location_id="WH-1",
                        quantity=100,
                        expected_time=Timestamp(seconds=1_900_000_000),
                    ),
                    request_id=str(uuid.uuid4()),
                )
            )


class CapturedLogs(logging.Handler):
    """Every record with a traceback, from any logger (the servers run in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if (record.exc_info or record.levelno >= logging.CRITICAL) and not (
            handed_to_a_closed_loop(record)
        ):
            self.tracebacks.append(record)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundServers]:
    if request.param == "postgres":
        asyncio.run(require_postgres())
    directory = tmp_path_factory.mktemp("fuzz")
    with BackgroundServers(request.param == "postgres", directory) as running:
        yield running


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    handler = CapturedLogs()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def trailers_size(error: grpc.RpcError) -> int:
    """Bytes the error's status takes on the wire: message percent-encoded, binary base64."""
    size = len(urllib.parse.quote(error.details() or "", safe=" "))
    trailers: Any = error.trailing_metadata()
    for key, value in trailers or ():
        encoded = base64.b64encode(value) if isinstance(value, bytes) else value.encode()
        size += len(key) + len(encoded) + 32  # HPACK's per-entry overhead
    return size


def call_raw(
    servers: BackgroundServers, method: MethodDescriptor, body: bytes
) -> tuple[grpc.StatusCode, int]:
    """Send ``body`` to ``method``; the status code and the size of the error's trailers."""
    service = method.containing_service
    channel = servers.channel_for(service.full_name)
    path = f"/{service.full_name}/{method.name}"
    try:
        if method.server_streaming:
            watch: Any = channel.unary_stream(path)
            stream = watch(body, timeout=STREAM_TIMEOUT_S)
            for _ in stream:
                break
            stream.cancel()
        else:
            unary: Any = channel.unary_unary(path)
            unary(body, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        details: str = error.details() or ""
        if method.server_streaming and code in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED,
        ):
            code = grpc.StatusCode.OK  # an accepted watch ends at its deadline
        elif code is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details:
            code = grpc.StatusCode.INVALID_ARGUMENT  # grpc's own size limit: the body is too big
        return code, trailers_size(error)
    return grpc.StatusCode.OK, 0


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(call=calls())
def test_every_rpc_answers_bad_input_with_a_client_error(
    servers: BackgroundServers, logs: CapturedLogs, call: tuple[MethodDescriptor, bytes]
) -> None:
    method, body = call
    logs.tracebacks.clear()
    code, size = call_raw(servers, method, body)
    assert code in CLIENT_ERRORS, (method.full_name, code, body[:200])
    assert size <= MAX_TRAILERS_BYTES, (method.full_name, size)
    assert not logs.tracebacks, [r.getMessage() for r in logs.tracebacks]


def test_the_fuzz_reaches_every_method() -> None:
    """Every RPC of both services is a candidate; none was forgotten in the list."""
    names = {m.full_name for m in METHODS}
    assert "stockroom.inventory.v1.InventoryService.WatchStock" in names
    assert "stockroom.pricing.v1.PricingService.Quote" in names
    assert len(names) == sum(len(s.methods) for s in SERVICES)


def _ids(count: int, text: str) -> list[str]:
    return [f"{text}{i}" for i in range(count)]


NAMED_CASES: list[tuple[str, str, Message]] = [
    (
        "a reservation TTL of 2^63-1 seconds",
        "ReserveStock",
        inventory_pb2.ReserveStockRequest(
            request_id=str(uuid.uuid4()),
            lines=[inventory_pb2.ReserveStockLine(sku="MUG", quantity=1)],
            ttl=Duration(seconds=2**63 - 1),
        ),
    ),
    (
        "a page token past int64",
        "ListMovements",
        inventory_pb2.ListMovementsRequest(
            page_token="eyJjIjpbOTIyMzM3MjAzNjg1NDc3NTgwOF0sImYiOiIifQ"
        ),
    ),
    (
        "an overlong page token",
        "ListItems",
        inventory_pb2.ListItemsRequest(page_token="A" * 100_000),
    ),
    (
        "a page token holding NUL",
        "ListItems",
        inventory_pb2.ListItemsRequest(
            page_token="eyJjIjpbIlx1MDAwMCJdLCJmIjoiNDQxMzZmYTM1NWIzNjc4YSJ9"
        ),
    ),
    (
        "a deeply nested page token",
        "ListLocations",
        inventory_pb2.ListLocationsRequest(
            page_token=base64.urlsafe_b64encode(b"[" * 100_000).decode().rstrip("=")[:1000]
        ),
    ),
    (
        "hundreds of bad availability lines",
        "CheckAvailability",
        inventory_pb2.CheckAvailabilityRequest(
            lines=[inventory_pb2.AvailabilityLine(sku="bad sku " * 7, quantity=-1)] * 500
        ),
    ),
    (
        "a hundred availability checks of bad lines and locations",
        "BatchCheckAvailability",
        inventory_pb2.BatchCheckAvailabilityRequest(
            requests=[
                inventory_pb2.CheckAvailabilityRequest(
                    lines=[inventory_pb2.AvailabilityLine(sku="bad sku " * 7, quantity=-1)] * 50,
                    location_ids=_ids(100, "bad loc é" * 6),
                )
            ]
            * 100
        ),
    ),
    (
        "more availability checks and lines than a batch takes",
        "BatchCheckAvailability",
        inventory_pb2.BatchCheckAvailabilityRequest(
            requests=[
                inventory_pb2.CheckAvailabilityRequest(
                    lines=[inventory_pb2.AvailabilityLine(sku="", quantity=0)] * 600
                )
            ]
            * 120
        ),
    ),
    (
        "hundreds of bad SKUs in a batch",
        "BatchGetStockLevels",
        inventory_pb2.BatchGetStockLevelsRequest(skus=_ids(500, "bad sku é" * 6)),
    ),
    (
        "a hundred short reservation lines",
        "ReserveStock",
        inventory_pb2.ReserveStockRequest(
            request_id=str(uuid.uuid4()),
            lines=[inventory_pb2.ReserveStockLine(sku="", quantity=0)] * 100,
        ),
    ),
    (
        "an extension to the year 292 billion",
        "ExtendReservation",
        inventory_pb2.ExtendReservationRequest(
            reservation_id=str(uuid.uuid4()),
            request_id=str(uuid.uuid4()),
            expire_time=Timestamp(seconds=2**63 - 1),
        ),
    ),
    (
        "an extension by 2^63-1 seconds",
        "ExtendReservation",
        inventory_pb2.ExtendReservationRequest(
            reservation_id=str(uuid.uuid4()),
            request_id=str(uuid.uuid4()),
            ttl=Duration(seconds=2**63 - 1),
        ),
    ),
    (
        "six hundred parts of a reservation to confirm",
        "ConfirmReservation",
        inventory_pb2.ConfirmReservationRequest(
            reservation_id=str(uuid.uuid4()),
            request_id=str(uuid.uuid4()),
            lines=[inventory_pb2.PartialLine(sku="bad sku", quantity=-1, location_id="é")] * 600,
        ),
    ),
    (
        "a reservation page token whose cursor is no time",
        "ListReservations",
        inventory_pb2.ListReservationsRequest(
            page_token=encode_page_token(("x" * 200, "y"), {"reference": "", "state": ""})
        ),
    ),
    (
        "a verification page token with a NUL in its cursor",
        "VerifyLedger",
        inventory_pb2.VerifyLedgerRequest(page_token=encode_page_token(("\x00", "\x00"), {})),
    ),
    (
        "a preorder date past the year 9999",
        "SetInventoryPolicy",
        inventory_pb2.SetInventoryPolicyRequest(
            request_id=str(uuid.uuid4()),
            policy=inventory_pb2.InventoryPolicy(
                sku="MUG",
                mode=inventory_pb2.INVENTORY_POLICY_MODE_PREORDER,
                preorder_until=Timestamp(seconds=2**62, nanos=-1),
            ),
        ),
    ),
    (
        "a backorder limit of 2^63-1",
        "SetInventoryPolicy",
        inventory_pb2.SetInventoryPolicyRequest(
            request_id=str(uuid.uuid4()),
            policy=inventory_pb2.InventoryPolicy(
                sku="MUG",
                mode=inventory_pb2.INVENTORY_POLICY_MODE_BACKORDER,
                backorder_limit=2**63 - 1,
            ),
        ),
    ),
    (
        "an expected receipt due before the year 1",
        "CreateExpectedReceipt",
        inventory_pb2.CreateExpectedReceiptRequest(
            request_id=str(uuid.uuid4()),
            expected_receipt=inventory_pb2.ExpectedReceipt(
                expected_receipt_id="PO-1",
                sku="MUG",
                location_id="WH-1",
                quantity=1,
                expected_time=Timestamp(seconds=-(2**62)),
            ),
        ),
    ),
    (
        "an expected receipts page token past int64",
        "ListExpectedReceipts",
        inventory_pb2.ListExpectedReceiptsRequest(
            page_token="eyJjIjpbOTIyMzM3MjAzNjg1NDc3NTgwOCwiUE8iXSwiZiI6IiJ9"
        ),
    ),
    (
        "a 20,000-character promotion id",
        "GetPromotion",
        pricing_pb2.GetPromotionRequest(promotion_id="x" * 20_000),
    ),
    (
        "a superscript digit as a promotion id",
        "GetPromotion",
        pricing_pb2.GetPromotionRequest(promotion_id="²"),
    ),
    (
        "a superscript digit as a redemption id",
        "ReleaseRedemption",
        pricing_pb2.ReleaseRedemptionRequest(redemption_id="²"),
    ),
    (
        "a 20,000-character price id",
        "GetPrice",
        pricing_pb2.GetPriceRequest(sku="M" * 20_000, currency_code="€" * 5_000),
    ),
]


@pytest.mark.parametrize(
    ("case", "method_name", "request_message"), NAMED_CASES, ids=[c[0] for c in NAMED_CASES]
)
def test_named_bad_inputs_get_a_client_error_that_fits(
    servers: BackgroundServers,
    logs: CapturedLogs,
    case: str,
    method_name: str,
    request_message: Message,
) -> None:
    (method,) = [
        m for m in METHODS if m.name == method_name and m.input_type is request_message.DESCRIPTOR
    ]
    code, size = call_raw(servers, method, request_message.SerializeToString())
    assert code in CLIENT_ERRORS - {grpc.StatusCode.OK}, (case, code)
    assert size <= MAX_TRAILERS_BYTES, (case, size)
    assert not logs.tracebacks, [r.getMessage() for r in logs.tracebacks]


def test_an_undecodable_body_is_invalid_argument_without_a_traceback(
    servers: BackgroundServers, logs: CapturedLogs
) -> None:
    (method,) = [m for m in METHODS if m.name == "ReserveStock"]
    code, _ = call_raw(servers, method, b"\xff\xff\xff\xff")
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert not logs.tracebacks
