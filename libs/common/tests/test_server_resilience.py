"""The server side: load shedding, health that follows a real database, mTLS and
per-caller authorization of mutating methods."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from sqlalchemy.engine import make_url

from stockroom.common import errors
from stockroom.common.client import Policy, channel_credentials, connect
from stockroom.common.db import create_engine, ping
from stockroom.common.server import (
    ConfigError,
    GrpcServer,
    ServerConfig,
    ServiceRegistration,
    check_health,
)
from stockroom.common.testing import ECHO_SERVICE as ECHO
from stockroom.common.testing import (
    AppendRequest,
    BalanceRequest,
    FaultProxy,
    Ledger,
    Pki,
    add_echo_to_server,
    append_callable,
    balance_callable,
    echo_callable,
    make_pki,
    serving,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
NO_RETRIES = Policy(retry=None)


def echo_registration() -> ServiceRegistration:
    return ServiceRegistration(ECHO, add_echo_to_server)


async def test_calls_beyond_the_concurrency_limit_are_shed_with_retry_info() -> None:
    server = GrpcServer(
        ServerConfig("test", port=0, max_concurrent_rpcs=2, shed_retry_after_s=0.2),
        [echo_registration()],
    )
    shed_methods: list[str] = []
    server.shedder.on_shed.add(shed_methods.append)
    async with serving(server) as address, connect(address, NO_RETRIES) as channel:
        echo = echo_callable(channel)
        slow = [
            asyncio.ensure_future(echo(b"slow", metadata=(("echo-delay-ms", "1500"),), timeout=5))
            for _ in range(2)
        ]
        for _ in range(200):
            if server.shedder.in_flight == 2:
                break
            await asyncio.sleep(0.01)

        with pytest.raises(errors.ResourceExhausted) as shed:
            await echo(b"one too many")
        health_while_full = await check_health(channel)
        finished = await asyncio.gather(*slow)

    assert shed.value.reason == "OVERLOADED"
    assert shed.value.retry_after_s == 0.2
    assert health_while_full == SERVING  # health checks are never shed
    assert finished == [b"slow", b"slow"]
    assert (server.shedder.shed_total, server.shedder.in_flight) == (1, 0)
    assert shed_methods == [f"/{ECHO}/Echo"]


async def wait_for_health(channel: grpc.aio.Channel, wanted: int) -> int:
    status = -1
    for _ in range(200):
        status = await check_health(channel)
        if status == wanted:
            break
        await asyncio.sleep(0.05)
    return status


@pytest.mark.postgres
async def test_health_follows_a_real_database_that_is_cut_off_and_restored(
    postgres_url: str,
) -> None:
    url = make_url(postgres_url)
    async with FaultProxy(f"{url.host}:{url.port or 5432}") as proxy:
        host, port = proxy.address.rsplit(":", 1)
        engine = create_engine(url.set(host=host, port=int(port)).render_as_string(False))
        server = GrpcServer(
            ServerConfig("test", port=0, health_check_interval_s=0.05),
            [echo_registration()],
            readiness_checks=[lambda: ping(engine)],
        )
        try:
            async with serving(server) as address, grpc.aio.insecure_channel(address) as channel:
                before = await check_health(channel)
                proxy.cut()
                while_cut = await wait_for_health(channel, NOT_SERVING)
                proxy.restore()
                after = await wait_for_health(channel, SERVING)
        finally:
            await engine.dispose()

    assert (before, while_cut, after) == (SERVING, NOT_SERVING, SERVING)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki", clients=["pricing", "intruder"])


def tls_config(pki: Pki, **settings: object) -> ServerConfig:
    return ServerConfig(
        "test",
        port=0,
        tls_cert_file=str(pki.server.cert_file),
        tls_key_file=str(pki.server.key_file),
        tls_client_ca_file=str(pki.ca_file),
        **settings,  # type: ignore[arg-type]
    )


def as_client(pki: Pki, name: str) -> grpc.ChannelCredentials:
    pair = pki.clients[name]
    return channel_credentials(pki.ca_file, pair.cert_file, pair.key_file)


async def test_an_mtls_handshake_with_a_client_certificate_succeeds(pki: Pki) -> None:
    server = GrpcServer(tls_config(pki), [echo_registration()])
    async with (
        serving(server) as address,
        connect(address, credentials=as_client(pki, "pricing")) as channel,
    ):
        response = await echo_callable(channel)(b"over mTLS")

    assert response == b"over mTLS"


async def test_a_client_without_a_certificate_is_refused_by_an_mtls_server(pki: Pki) -> None:
    server = GrpcServer(tls_config(pki), [echo_registration()])
    async with (
        serving(server) as address,
        connect(address, NO_RETRIES, credentials=channel_credentials(pki.ca_file)) as channel,
    ):
        with pytest.raises(errors.Unavailable):
            await echo_callable(channel)(b"who am I", timeout=2)


@pytest.fixture
async def ledger_server(pki: Pki) -> GrpcServer:
    return GrpcServer(
        tls_config(pki, mutating_callers="pricing, checkout"),
        [
            Ledger().registration(),
            ServiceRegistration(ECHO, add_echo_to_server, frozenset({"Echo"})),
        ],
    )


async def test_an_allowed_caller_may_call_a_mutating_method(
    ledger_server: GrpcServer, pki: Pki
) -> None:
    async with (
        serving(ledger_server) as address,
        connect(address, credentials=as_client(pki, "pricing")) as channel,
    ):
        response = await append_callable(channel)(AppendRequest(request_id="r-1", amount=3))

    assert response.balance == 3


async def test_a_caller_not_on_the_allowlist_is_denied_mutating_methods_only(
    ledger_server: GrpcServer, pki: Pki
) -> None:
    async with (
        serving(ledger_server) as address,
        connect(address, credentials=as_client(pki, "intruder")) as channel,
    ):
        with pytest.raises(errors.PermissionDenied) as denied:
            await append_callable(channel)(AppendRequest(request_id="r-1", amount=3))
        balance = await balance_callable(channel)(BalanceRequest())  # NO_SIDE_EFFECTS in the proto
        echoed = await echo_callable(channel)(b"read-only")  # declared in the registration
        health = await check_health(channel)

    assert denied.value.reason == "CALLER_NOT_ALLOWED"
    assert denied.value.metadata["caller"] == "intruder"
    assert (balance.balance, echoed, health) == (0, b"read-only", SERVING)


def test_an_allowlist_without_client_certificates_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="TLS_CLIENT_CA_FILE"):
        GrpcServer(ServerConfig("test", mutating_callers="pricing"), [echo_registration()])


def test_new_settings_come_from_the_environment() -> None:
    config = ServerConfig.from_env(
        "inventory",
        "INVENTORY",
        env={"INVENTORY_SHED_RETRY_AFTER_S": "0.5", "INVENTORY_MUTATING_CALLERS": "a, b,,"},
    )

    assert config.shed_retry_after_s == 0.5
    assert config.mutating_caller_set == frozenset({"a", "b"})
