"""Publication survives a SIGKILL: rows committed before the crash are published once after it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import MetaData, func, select

from stockroom.common.db import create_engine
from stockroom.common.events import EventsConfig, outbox_table, unpack
from stockroom.common.events.testing import stream_envelopes
from stockroom.common.testing import FaultProxy

from .conftest import create_schema

WORKER = Path(__file__).with_name("crash_worker.py")
PER_KEY = 20


async def start_worker(
    url: str, nats_url: str, config: EventsConfig, per_key: int
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        url,
        nats_url,
        config.stream_name,
        config.prefix,
        str(per_key),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"ready", line
    return process


async def pending(url: str) -> int:
    engine = create_engine(url)
    outbox = outbox_table(MetaData())
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.publish_time.is_(None))
        )
    await engine.dispose()
    return int(count or 0)


async def stream_count(config: EventsConfig) -> int:
    return len(await stream_envelopes(config))


async def test_a_killed_service_publishes_everything_once_after_restart(
    database_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    await engine.dispose()
    upstream = events_config.url.removeprefix("nats://")
    async with FaultProxy(upstream, server_speaks_first=True) as proxy:
        proxy.latency_s = 0.1  # slow enough that the kill lands with most events pending
        worker = await start_worker(database_url, f"nats://{proxy.address}", events_config, PER_KEY)
        try:
            for _ in range(1500):
                if await stream_count(events_config) >= 1:
                    break
                await asyncio.sleep(0.02)
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
    assert worker.returncode == -signal.SIGKILL
    # Killed mid-publication: every event not in the stream is still pending, and
    # (almost always) some in the stream are not marked yet, so the restarted relay
    # publishes them again and JetStream must drop the copies.
    published_before_crash = await stream_count(events_config)
    assert 1 <= published_before_crash < 3 * PER_KEY
    assert await pending(database_url) >= 3 * PER_KEY - published_before_crash

    restarted = await start_worker(database_url, events_config.url, events_config, 0)
    try:
        for _ in range(1500):
            if await pending(database_url) == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        restarted.terminate()
        await restarted.wait()
    assert await pending(database_url) == 0

    envelopes = await stream_envelopes(events_config)
    assert len(envelopes) == 3 * PER_KEY
    assert len({e.id for e in envelopes}) == 3 * PER_KEY
    for key in ("k1", "k2", "k3"):
        values = [unpack(e, StringValue).value for e in envelopes if e.subject == key]
        assert values == [f"{key}:{n}" for n in range(PER_KEY)]
