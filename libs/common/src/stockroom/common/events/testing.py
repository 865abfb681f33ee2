"""Test helpers for events: a throwaway JetStream stream per test, and reading it back.

``events_config`` (a pytest fixture; import it into a conftest) gives each
test its own stream name and subject prefix on the NATS server every
developer and CI machine runs, and deletes the stream afterwards. Tests are
skipped without NATS locally and fail in CI, like the PostgreSQL ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from stockroom.common.events._config import EventsConfig
from stockroom.common.events._envelope import decode
from stockroom.events.v1.envelope_pb2 import Envelope

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
NATS_URL_ENV = "STOCKROOM_TEST_NATS_URL"


def nats_url() -> str:
    return os.environ.get(NATS_URL_ENV, DEFAULT_NATS_URL)


async def nats_reachable(url: str | None = None) -> str | None:
    """None when the NATS server answers with JetStream enabled, else why not."""
    try:
        client = await nats.connect(url or nats_url(), connect_timeout=3, allow_reconnect=False)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        await client.jetstream().account_info()
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        return f"JetStream unavailable: {type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return None


async def require_nats() -> None:
    problem = await nats_reachable()
    if problem is None:
        return
    message = f"NATS at {nats_url()} is not reachable ({problem})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; CI must run the event tests", pytrace=False)
    pytest.skip(message)


@asynccontextmanager
async def temporary_stream(
    service: str = "test", **settings: object
) -> AsyncIterator[EventsConfig]:
    """An ``EventsConfig`` with a unique stream and subject prefix; the stream is deleted after."""
    unique = uuid.uuid4().hex[:12]
    config = EventsConfig(
        service,
        enabled=True,
        url=nats_url(),
        stream=f"TEST_{unique}",
        subject_prefix=f"test.{unique}",
        **settings,  # type: ignore[arg-type]
    )
    try:
        yield config
    finally:
        client = await nats.connect(config.url, connect_timeout=3, allow_reconnect=False)
        try:
            await client.jetstream().delete_stream(config.stream_name)
        except NotFoundError:
            pass
        finally:
            await client.close()


@pytest.fixture
async def events_config() -> AsyncIterator[EventsConfig]:
    """Publishing to a stream of this test's own, deleted afterwards."""
    await require_nats()
    async with temporary_stream() as config:
        yield config


@asynccontextmanager
async def nats_client(url: str | None = None) -> AsyncIterator[NatsClient]:
    client = await nats.connect(url or nats_url(), connect_timeout=3, allow_reconnect=False)
    try:
        yield client
    finally:
        await client.close()


async def stream_envelopes(config: EventsConfig, limit: int = 100_000) -> list[Envelope]:
    """Every message now in the config's stream, decoded, in stream order.

    Read with direct gets by sequence (no consumer left behind); none while
    the stream does not exist yet.
    """
    async with nats_client(config.url) as client:
        js = client.jetstream()
        try:
            info = await js.stream_info(config.stream_name)
        except NotFoundError:
            return []
        first, last = max(info.state.first_seq, 1), info.state.last_seq
        found: list[Envelope] = []
        for sequence in range(first, min(last, first + limit - 1) + 1):
            try:
                message = await js.get_msg(config.stream_name, seq=sequence)
            except NotFoundError:
                continue
            found.append(decode(message.data or b""))
        return found
