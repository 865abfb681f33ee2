"""The consumer example in docs/events.md works: it is run here against a real stream."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import update

from stockroom.common.db import create_engine
from stockroom.common.events import EventsConfig, unpack
from stockroom.common.events.relay import Relay

from .conftest import append_events, create_schema, outbox

DOC = Path(__file__).resolve().parents[4] / "docs" / "events.md"


def example_code() -> dict[str, Any]:
    """The first python block of the "Consuming with nats-py" section, executed."""
    section = DOC.read_text().split("### Consuming with nats-py", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the consumer example is missing from docs/events.md"
    namespace: dict[str, Any] = {"__name__": "docs_events_example"}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    return namespace


async def test_the_documented_consumer_gets_every_event_once(
    sqlite_url: str, events_config: EventsConfig
) -> None:
    engine = create_engine(sqlite_url)
    await create_schema(engine)
    payloads = await append_events(engine, events_config, ["a", "b"], per_key=5)
    relay = Relay(engine, outbox, events_config)
    assert await relay.publish_pending() == 10
    async with engine.begin() as connection:  # published twice: JetStream keeps one
        await connection.execute(update(outbox).values(publish_time=None))
    assert await relay.publish_pending() == 10
    await relay.stop()

    example = example_code()
    handler = example["ApplyOnce"]()
    stop = asyncio.Event()

    async def handle(event: Any) -> None:
        await handler(event)
        if len(handler.applied) == len(payloads):
            stop.set()

    await asyncio.wait_for(
        example["consume"](
            events_config.url,
            events_config.stream_name,
            f"{events_config.prefix}.>",
            "docs-example",
            handle,
            stop,
        ),
        timeout=60,
    )
    values = [unpack(e, StringValue).value for e in handler.applied]
    assert sorted(values) == sorted(payloads)
    for key in ("a", "b"):
        assert [v for v in values if v.startswith(f"{key}:")] == [f"{key}:{n}" for n in range(5)]
    await engine.dispose()
