"""The common server bootstrap: health tied to readiness, reflection, graceful drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from stockroom.common.server import GrpcServer, ServerConfig, ServiceRegistration, check_health
from stockroom.common.testing import ECHO_SERVICE as SERVICE_NAME
from stockroom.common.testing import add_echo_to_server, echo_callable


class Switch:
    """A readiness check the test can turn off and on."""

    def __init__(self) -> None:
        self.up = True

    async def __call__(self) -> None:
        if not self.up:
            raise ConnectionError("database down")


@pytest.fixture
def database() -> Switch:
    return Switch()


@pytest.fixture
async def server(database: Switch) -> AsyncIterator[GrpcServer]:
    config = ServerConfig(service_name="echo", port=0, health_check_interval_s=0.05)
    srv = GrpcServer(
        config, [ServiceRegistration(SERVICE_NAME, add_echo_to_server)], readiness_checks=[database]
    )
    await srv.start()
    yield srv
    await srv.stop(grace_s=0)


async def health_status(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return await check_health(channel, service)


async def test_health_reports_serving_for_each_registered_service(server: GrpcServer) -> None:
    assert await health_status(server.port) == health_pb2.HealthCheckResponse.SERVING
    assert await health_status(server.port, SERVICE_NAME) == health_pb2.HealthCheckResponse.SERVING


async def test_health_follows_the_database_down_and_back(
    server: GrpcServer, database: Switch
) -> None:
    database.up = False
    for _ in range(100):
        if await health_status(server.port) == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        await asyncio.sleep(0.02)
    assert await health_status(server.port) == health_pb2.HealthCheckResponse.NOT_SERVING

    database.up = True
    for _ in range(100):
        if await health_status(server.port) == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.02)
    assert await health_status(server.port, SERVICE_NAME) == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        names: set[str] = set()
        async for response in reflect(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        ):
            names |= {s.name for s in response.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


async def test_drain_finishes_in_flight_calls_and_refuses_new_ones(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        echo = echo_callable(channel)
        in_flight = asyncio.ensure_future(
            echo(b"slow", metadata=(("echo-delay-ms", "300"),), timeout=5)
        )
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop(grace_s=5))
        await asyncio.sleep(0.05)

        assert await in_flight == b"slow"
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await echo(b"late", timeout=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
