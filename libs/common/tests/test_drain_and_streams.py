"""Drain and server streams: NOT_SERVING first, a serving window, streams ended with a hint.

A raw-bytes service with one unary method and one endless server stream plays
the application; every assertion is about statuses and counts, none about
how long anything took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from stockroom.common.client import connect
from stockroom.common.errors import ResourceExhausted, Unavailable
from stockroom.common.server import (
    NOT_SERVING,
    SERVING,
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    check_health,
)
from stockroom.common.server._shedding import LoadShedder
from stockroom.common.testing import eventually, handed_to_a_closed_loop

SERVICE = "stockroom.testing.Drain"
UNARY = f"/{SERVICE}/Unary"
WATCH = f"/{SERVICE}/Watch"
QUIET = f"/{SERVICE}/Quiet"


async def _unary(request: bytes, context: Any) -> bytes:
    return request


async def _watch(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for number in range(100_000):  # bounded, but far longer than any test
        yield str(number).encode()
        await asyncio.sleep(0.02)


async def _quiet(request: bytes, context: Any) -> AsyncIterator[bytes]:
    """One message, then nothing: a watcher waiting for changes that do not come."""
    yield b"caught up"
    await asyncio.Event().wait()


def _add(server: grpc.aio.Server) -> None:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Watch": grpc.unary_stream_rpc_method_handler(_watch),
        "Quiet": grpc.unary_stream_rpc_method_handler(_quiet),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def watch_call(channel: grpc.aio.Channel) -> Any:
    watch: Any = channel.unary_stream(WATCH)
    return watch(b"", timeout=60)


async def echo(channel: grpc.aio.Channel, body: bytes) -> bytes:
    call: Any = channel.unary_unary(UNARY)
    return bytes(await call(body, timeout=30))


def make_server(**config: Any) -> GrpcServer:
    return GrpcServer(
        ServerConfig(service_name="test", port=0, **config), [ServiceRegistration(SERVICE, _add)]
    )


async def first_message(stream: Any) -> bytes:
    async for message in stream:
        return bytes(message)
    raise AssertionError("the stream ended before its first message")


async def test_sigterm_turns_health_not_serving_at_once_and_calls_are_served_in_the_window() -> (
    None
):
    server = make_server()
    port = await server.start()
    stopping: asyncio.Task[None] | None = None
    async with connect(f"127.0.0.1:{port}") as channel:
        assert await check_health(channel) == SERVING
        window_open = asyncio.Event()
        stopping = asyncio.create_task(server.stop(grace_s=5, window_s=30))
        for _ in range(500):  # bounded poll: NOT_SERVING is published before the window
            if await check_health(channel) == NOT_SERVING:
                window_open.set()
                break
            await asyncio.sleep(0.01)
        assert window_open.is_set()
        # Inside the window the server still answers: a probe saw NOT_SERVING and calls work.
        assert await echo(channel, b"still here") == b"still here"
        await server.stop()  # asked again: the window ends now and the drain goes on
        await stopping


async def test_draining_ends_open_streams_with_unavailable_and_a_resume_hint() -> None:
    server = make_server()
    port = await server.start()
    async with connect(f"127.0.0.1:{port}") as channel:
        watch = watch_call(channel)
        assert await first_message(watch) == b"0"
        stopping = asyncio.create_task(server.stop(grace_s=60, window_s=0))
        with pytest.raises(Unavailable) as ended:
            async for _ in watch:
                pass
        await stopping  # returns without waiting out the 60 s grace: no stream holds it
    assert ended.value.reason == "DRAINING"
    assert ended.value.retry_after_s is not None
    assert "resume" in ended.value.metadata


async def test_a_stream_ends_at_its_maximum_age_with_a_resume_hint() -> None:
    server = make_server(stream_max_age_s=0.2)
    port = await server.start()
    try:
        async with connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(Unavailable) as ended:
                async for _ in watch_call(channel):
                    pass
    finally:
        await server.stop(grace_s=0)
    assert ended.value.reason == "STREAM_MAX_AGE"
    assert ended.value.metadata["resume"]


async def test_streams_have_a_per_caller_cap_and_never_take_unary_slots() -> None:
    # Two unary slots only; one caller may hold three streams.
    server = make_server(max_concurrent_rpcs=2, max_streams=10, max_streams_per_caller=3)
    port = await server.start()
    try:
        async with connect(f"127.0.0.1:{port}") as channel:
            watches = [watch_call(channel) for _ in range(3)]
            for watch in watches:
                await first_message(watch)
            with pytest.raises(ResourceExhausted) as refused:
                await first_message(watch_call(channel))
            # Three open streams, two unary slots: unary calls still get through.
            answers = await asyncio.gather(*(echo(channel, b"x") for _ in range(2)))
            for watch in watches:
                watch.cancel()
    finally:
        await server.stop(grace_s=0)
    assert refused.value.reason == "TOO_MANY_STREAMS"
    assert refused.value.retry_after_s is not None
    assert answers == [b"x", b"x"]
    assert server.shedder.shed_total == 0


async def test_a_stream_cancelled_while_it_waits_for_its_next_message_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client goes away while the servicer waits for news: the stream's slot is given
    back and nothing is logged as an error (its pending read is cancelled before the
    servicer's generator is closed)."""
    server = make_server()
    port = await server.start()
    try:
        async with connect(f"127.0.0.1:{port}") as channel:
            quiet: Any = channel.unary_stream(QUIET)
            calls = [quiet(b"", timeout=60) for _ in range(3)]
            for call in calls:
                assert await first_message(call) == b"caught up"
            for call in calls:
                call.cancel()
            await eventually(lambda: server.streams.open_streams == 0, what="streams closed")
    finally:
        await server.stop(grace_s=0)
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and not handed_to_a_closed_loop(r)
    ]
    assert errors == []


def test_shedding_pushback_is_jittered() -> None:
    shedder = LoadShedder(1, retry_after_s=0.1)
    delays: set[float] = set()
    for _ in range(20):
        with pytest.raises(ResourceExhausted) as shed:
            shedder._shed("/x/y")
        assert shed.value.retry_after_s is not None
        delays.add(shed.value.retry_after_s)
    assert len(delays) > 1
    assert all(0.05 <= d <= 0.15 for d in delays)
