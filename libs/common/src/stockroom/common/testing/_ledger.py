"""A tiny ledger service for tests of what retries may do to mutations.

``Append`` adds an amount to a balance and is not idempotent, except that a
request with a ``request_id`` is applied once however often it arrives (as
AIP-155 asks of our mutations); ``Balance`` has ``idempotency_level =
NO_SIDE_EFFECTS``. The proto is built at import time, so the messages are
real protobuf messages in the default descriptor pool, as generated code
would put them there.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from stockroom.common.server._grpc_server import ServiceRegistration

PACKAGE = "stockroom.testing"
SERVICE_NAME = f"{PACKAGE}.Ledger"
APPEND = f"/{SERVICE_NAME}/Append"
BALANCE = f"/{SERVICE_NAME}/Balance"


def _file() -> descriptor_pb2.FileDescriptorProto:
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="stockroom/testing/ledger.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in {
        "AppendRequest": [("request_id", field.TYPE_STRING), ("amount", field.TYPE_INT64)],
        "BalanceRequest": [],
        "BalanceResponse": [("balance", field.TYPE_INT64)],
    }.items():
        message = proto.message_type.add(name=name)
        for number, (field_name, kind) in enumerate(fields, start=1):
            message.field.add(name=field_name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    service = proto.service.add(name="Ledger")
    service.method.add(
        name="Append",
        input_type=f".{PACKAGE}.AppendRequest",
        output_type=f".{PACKAGE}.BalanceResponse",
    )
    balance = service.method.add(
        name="Balance",
        input_type=f".{PACKAGE}.BalanceRequest",
        output_type=f".{PACKAGE}.BalanceResponse",
    )
    balance.options.idempotency_level = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    return proto


def _load() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("stockroom/testing/ledger.proto")
    except KeyError:
        pool.AddSerializedFile(_file().SerializeToString())
    return pool


_pool = _load()
AppendRequest: Any = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName(f"{PACKAGE}.AppendRequest")
)
BalanceRequest: Any = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName(f"{PACKAGE}.BalanceRequest")
)
BalanceResponse: Any = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName(f"{PACKAGE}.BalanceResponse")
)


class Ledger:
    """The servicer: a balance, and the answer already given to each request id."""

    def __init__(self) -> None:
        self.balance = 0
        self.appends_received = 0
        self.answered: dict[str, int] = {}

    async def append(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.appends_received += 1
        if request.request_id in self.answered:
            return BalanceResponse(balance=self.answered[request.request_id])
        self.balance += request.amount
        if request.request_id:
            self.answered[request.request_id] = self.balance
        return BalanceResponse(balance=self.balance)

    async def read_balance(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return BalanceResponse(balance=self.balance)

    def registration(self) -> ServiceRegistration:
        def add(server: grpc.aio.Server) -> None:
            handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
                "Append": grpc.unary_unary_rpc_method_handler(
                    self.append, AppendRequest.FromString, BalanceResponse.SerializeToString
                ),
                "Balance": grpc.unary_unary_rpc_method_handler(
                    self.read_balance, BalanceRequest.FromString, BalanceResponse.SerializeToString
                ),
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
            )

        return ServiceRegistration(SERVICE_NAME, add)


def append_callable(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
    return channel.unary_unary(
        APPEND,
        request_serializer=AppendRequest.SerializeToString,
        response_deserializer=BalanceResponse.FromString,
    )


def balance_callable(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
    return channel.unary_unary(
        BALANCE,
        request_serializer=BalanceRequest.SerializeToString,
        response_deserializer=BalanceResponse.FromString,
    )
