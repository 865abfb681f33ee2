"""Deadlines: every call has one, servers pass theirs on, expired work is refused,
cancellation travels downstream, and no call outlives its deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from stockroom.common.client import (
    MethodPolicy,
    Policy,
    RetryPolicy,
    connect,
    deadline_scope,
    time_remaining_s,
)
from stockroom.common.errors import DeadlineExceeded, Unavailable
from stockroom.common.server import AroundCallInterceptor, Context, ServiceRegistration
from stockroom.common.testing import ECHO_SERVICE as ECHO
from stockroom.common.testing import FaultInjector, FaultProxy, add_echo_to_server, echo_callable

from .conftest import ServeFactory, unary

PROBE = "stockroom.testing.Probe"
RELAY = "stockroom.testing.Relay"
# Deadlines a successful call must meet are whole seconds, never less: a loaded
# 2-core machine can take most of a second to run one. Calls meant to run out of
# time face a fault that lasts far longer (HANG_S) than their deadline.
HANG_S = 30.0


class Probe:
    """A downstream that reports the deadline it was given, or hangs until cancelled."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()

    async def remaining(self, request: bytes, context: Context) -> bytes:
        return repr(context.time_remaining()).encode()

    async def hang(self, request: bytes, context: Context) -> bytes:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return request

    def registration(self) -> ServiceRegistration:
        return _generic(PROBE, {"Remaining": self.remaining, "Hang": self.hang})


def _generic(service: str, methods: dict[str, Any]) -> ServiceRegistration:
    def add(server: grpc.aio.Server) -> None:
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(m) for name, m in methods.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))

    return ServiceRegistration(service, add)


def relay(downstream: grpc.aio.Channel) -> ServiceRegistration:
    """A middle service: forwards the request (a Probe method name) downstream, setting no
    deadline of its own."""

    async def forward(request: bytes, context: Context) -> bytes:
        response: bytes = await unary(downstream, f"/{PROBE}/{request.decode()}")(b"")
        return response

    return _generic(RELAY, {"Forward": forward})


@asynccontextmanager
async def chain(serve: ServeFactory, probe: Probe, policy: Policy) -> AsyncIterator[str]:
    """caller -> relay -> probe; yields the relay's address."""
    async with (
        serve(probe.registration()) as probe_address,
        connect(probe_address, policy) as downstream,
        serve(relay(downstream)) as relay_address,
    ):
        yield relay_address


def remaining_from(response: bytes) -> float | None:
    value = response.decode()
    return None if value == "None" else float(value)


def at_most(limit_s: float) -> float:
    """``limit_s`` as the server may see it: grpc rounds the grpc-timeout header up (~1%)."""
    return limit_s * 1.02 + 0.01


async def test_a_call_without_a_timeout_gets_the_policy_default(serve: ServeFactory) -> None:
    probe = Probe()
    async with (
        serve(probe.registration()) as address,
        connect(address, Policy(timeout_s=3.0)) as channel,
    ):
        response = await unary(channel, f"/{PROBE}/Remaining")(b"")

    remaining = remaining_from(response)
    assert remaining is not None
    assert 0 < remaining <= at_most(3.0)


async def test_a_method_default_overrides_the_policy_default(serve: ServeFactory) -> None:
    probe = Probe()
    policy = Policy(timeout_s=30.0, methods={f"/{PROBE}/Remaining": MethodPolicy(timeout_s=5.0)})
    async with serve(probe.registration()) as address, connect(address, policy) as channel:
        response = await unary(channel, f"/{PROBE}/Remaining")(b"")

    remaining = remaining_from(response)
    assert remaining is not None
    assert 0 < remaining <= at_most(5.0)


async def test_a_server_passes_what_remains_of_its_deadline_minus_the_margin(
    serve: ServeFactory,
) -> None:
    policy = Policy(timeout_s=30.0, deadline_margin_s=2.0)
    async with chain(serve, Probe(), policy) as relay_address, connect(relay_address) as channel:
        response = await unary(channel, f"/{RELAY}/Forward")(b"Remaining", timeout=10.0)

    remaining = remaining_from(response)
    assert remaining is not None
    assert 0 < remaining <= at_most(10.0 - 2.0)


async def test_a_caller_without_a_deadline_leaves_the_downstream_its_default(
    serve: ServeFactory,
) -> None:
    policy = Policy(timeout_s=4.0)
    async with (
        chain(serve, Probe(), policy) as relay_address,
        grpc.aio.insecure_channel(relay_address) as raw,  # sets no deadline at all
    ):
        response = await unary(raw, f"/{RELAY}/Forward")(b"Remaining")

    remaining = remaining_from(response)
    assert remaining is not None
    assert 1.0 < remaining <= at_most(4.0)


async def test_deadline_scope_bounds_every_call_in_the_block(serve: ServeFactory) -> None:
    probe = Probe()
    async with serve(probe.registration()) as address, connect(address) as channel:
        with deadline_scope(5.0):
            response = await unary(channel, f"/{PROBE}/Remaining")(b"", timeout=60)
        assert time_remaining_s() is None

    remaining = remaining_from(response)
    assert remaining is not None
    assert 0 < remaining <= at_most(5.0)


async def test_a_call_is_refused_locally_once_the_deadline_being_served_has_passed(
    serve: ServeFactory,
) -> None:
    faults = FaultInjector()
    async with (
        serve(ServiceRegistration(ECHO, add_echo_to_server), interceptors=[faults]) as address,
        connect(address) as channel,
    ):
        with deadline_scope(0.0), pytest.raises(DeadlineExceeded) as raised:
            await echo_callable(channel)(b"late")

    assert raised.value.reason == "DEADLINE_PASSED"
    assert faults.calls == 0


class Stall(AroundCallInterceptor):
    """Blocks the event loop, as a CPU-starved server would, before the call is handled."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        time.sleep(self.seconds)  # noqa: ASYNC251 deliberately blocking: the deadline passes meanwhile
        yield


async def test_a_server_refuses_to_start_work_whose_deadline_has_passed(
    serve: ServeFactory,
) -> None:
    handled: list[bytes] = []

    async def record(request: bytes, context: Context) -> bytes:
        handled.append(request)
        return request

    async with (
        serve(_generic(PROBE, {"Record": record}), outer_interceptors=[Stall(0.3)]) as address,
        grpc.aio.insecure_channel(address) as raw,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await unary(raw, f"/{PROBE}/Record")(b"stale", timeout=0.1)
        await asyncio.sleep(0.1)

    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert handled == []


async def test_cancelling_a_call_cancels_the_calls_it_made_downstream(
    serve: ServeFactory,
) -> None:
    probe = Probe()
    async with (
        chain(serve, probe, Policy(timeout_s=30)) as relay_address,
        connect(relay_address) as channel,
    ):
        call = unary(channel, f"/{RELAY}/Forward")(b"Hang", timeout=20)
        async with asyncio.timeout(5):
            await probe.started.wait()
        call.cancel()
        async with asyncio.timeout(5):
            await probe.cancelled.wait()

    assert probe.cancelled.is_set()


async def test_an_expiring_deadline_cancels_the_downstream_work(serve: ServeFactory) -> None:
    probe = Probe()
    async with (
        chain(serve, probe, Policy(timeout_s=30)) as relay_address,
        connect(relay_address) as channel,
    ):
        with pytest.raises(DeadlineExceeded):
            await unary(channel, f"/{RELAY}/Forward")(b"Hang", timeout=0.3)
        async with asyncio.timeout(5):
            await probe.cancelled.wait()

    assert probe.cancelled.is_set()


async def test_no_call_outlives_its_deadline_behind_a_slow_network(serve: ServeFactory) -> None:
    async with (
        serve(ServiceRegistration(ECHO, add_echo_to_server)) as address,
        FaultProxy(address) as proxy,
        connect(proxy.address) as channel,
    ):
        await echo_callable(channel)(b"warm up", timeout=5)
        proxy.latency_s = HANG_S
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await echo_callable(channel)(b"slow", timeout=1.0)
        elapsed = time.monotonic() - started

    assert elapsed < HANG_S / 2  # ended by its deadline, not by the network answering


async def test_no_call_outlives_its_deadline_behind_a_hung_peer(serve: ServeFactory) -> None:
    async with (
        serve(ServiceRegistration(ECHO, add_echo_to_server)) as address,
        FaultProxy(address) as proxy,
        connect(proxy.address) as channel,
    ):
        proxy.blackhole = True
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await echo_callable(channel)(b"into the void", timeout=1.0)
        elapsed = time.monotonic() - started

    assert elapsed < HANG_S / 2  # a peer that never answers costs the deadline, not forever


async def test_retries_never_start_an_attempt_past_the_deadline(serve: ServeFactory) -> None:
    arrivals: list[float] = []

    class Arrivals(AroundCallInterceptor):
        @asynccontextmanager
        async def around(self, method: str, context: Context) -> AsyncIterator[None]:
            arrivals.append(time.monotonic())
            yield

    # The server asks for 1.2 s between attempts and the call has 2 s: a second
    # attempt fits, a third would start past the deadline. Counting attempts, not
    # timing them, leaves 0.8 s of slack for a loaded machine.
    faults = FaultInjector()
    faults.fail_all(Unavailable("down", retry_after_s=1.2))
    policy = Policy(
        retry=RetryPolicy(max_attempts=100, budget_max_tokens=1000),
        methods={ECHO: MethodPolicy(idempotent=True)},
    )
    async with (
        serve(
            ServiceRegistration(ECHO, add_echo_to_server), interceptors=[Arrivals(), faults]
        ) as address,
        connect(address, policy) as channel,
    ):
        with pytest.raises(Unavailable):  # the server's answer, not a local DEADLINE_PASSED
            await echo_callable(channel)(b"x", timeout=2.0)

    assert len(arrivals) == 2  # it retried once, and did not wait past the deadline for a third
