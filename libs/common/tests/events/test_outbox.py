"""The outbox without a broker: appending, the commit hook, envelopes, settings, retention."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import Int64Value, StringValue
from sqlalchemy import MetaData, func, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import create_engine, run_autocommit
from stockroom.common.events import (
    EventsConfig,
    append,
    decode,
    envelope,
    outbox_table,
    prune_published,
    prune_request_records,
    subject_token,
    unpack,
    watch_commits,
)
from stockroom.common.server import ConfigError

from .conftest import NOW, append_events, create_schema, event, outbox, request_records

CONFIG = EventsConfig("test")


async def test_append_is_one_insert_and_a_rollback_leaves_nothing(database_url: str) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    statements: list[tuple[str, bool]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, many))

    sa_event.listen(engine.sync_engine, "before_cursor_execute", record)
    async with engine.begin() as connection:
        positions = await append(connection, outbox, [event(CONFIG, "a", n) for n in range(3)], NOW)
    ((statement, _many),) = statements  # one statement, sent once, three rows
    assert statement.count("?") + statement.count("$") == 3 * 8  # 3 rows of 8 values

    async def failing_change() -> None:
        async with engine.begin() as connection:
            await append(connection, outbox, [event(CONFIG, "b", 0)], NOW)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox).order_by(outbox.c.position))).all()
    assert [StringValue.FromString(r.data).value for r in rows] == ["a:0", "a:1", "a:2"]
    assert [r.position for r in rows] == positions
    assert all(r.publish_time is None for r in rows)
    await engine.dispose()


async def test_commits_with_events_are_announced_after_they_commit(database_url: str) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    announced: list[int] = []
    remove = watch_commits(engine, lambda: announced.append(1))

    async with engine.begin() as connection:
        await append(connection, outbox, [event(CONFIG, "a", 0)], NOW)
        assert announced == []  # not before the COMMIT
    assert announced == [1]

    async def rolled_back() -> None:
        async with engine.begin() as connection:
            await append(connection, outbox, [event(CONFIG, "a", 1)], NOW)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await rolled_back()
    async with engine.begin() as connection:  # a transaction without events
        await connection.execute(update(outbox).values(about="x"))
    assert announced == [1]

    remove()
    async with engine.begin() as connection:
        await append(connection, outbox, [event(CONFIG, "a", 2)], NOW)
    assert announced == [1]
    await engine.dispose()


@pytest.mark.postgres
async def test_events_appended_in_autocommit_mode_are_announced(postgres_url: str) -> None:
    """One-statement writes run without BEGIN (``run_autocommit``): still announced."""
    engine = create_engine(postgres_url)
    await create_schema(engine)
    announced: list[int] = []
    watch_commits(engine, lambda: announced.append(1))

    async def write(connection: AsyncConnection) -> None:
        await append(connection, outbox, [event(CONFIG, "a", 0)], NOW)

    await run_autocommit(engine, write, repeatable=False)
    assert announced == [1]
    await engine.dispose()


@pytest.mark.postgres
async def test_a_cancelled_statement_is_not_turned_into_another_error(postgres_url: str) -> None:
    """The commit hooks run inside SQLAlchemy's rollback of an invalidated connection:
    they must not raise there (the caller would see PendingRollbackError, not its own)."""
    engine = create_engine(postgres_url)
    await create_schema(engine)
    watch_commits(engine, lambda: None)
    started = asyncio.Event()

    async def slow() -> None:
        async with engine.connect() as connection:
            await append(connection, outbox, [event(CONFIG, "a", 0)], NOW)
            started.set()
            await connection.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(slow())
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.sleep(0.1)  # let the sleep reach the server
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with engine.begin() as connection:
        assert await connection.scalar(select(func.count()).select_from(outbox)) == 0
    await engine.dispose()


async def test_envelope_carries_the_cloudevents_attributes(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await create_schema(engine)
    config = EventsConfig("inventory", enabled=True)
    with_id = event(config, "SKU-1", 0, dedupe_id="ledger-41")
    async with engine.begin() as connection:
        await append(connection, outbox, [with_id, event(config, "SKU-1", 1)], NOW)
        rows = (await connection.execute(select(outbox).order_by(outbox.c.position))).all()
    first, second = (decode(envelope(r, config.source).SerializeToString()) for r in rows)
    assert first.id == "ledger-41"
    assert second.id == str(rows[1].position)
    assert first.source == "/stockroom/inventory"
    assert first.spec_version == "1.0"
    assert first.type == "stockroom.test.v1.thing_changed"
    assert first.subject == "SKU-1"
    assert first.data_content_type == "application/protobuf"
    assert first.time.ToDatetime(tzinfo=NOW.tzinfo) == NOW
    assert first.sequence == rows[0].position < second.sequence
    assert unpack(first, StringValue).value == "SKU-1:0"
    with pytest.raises(ValueError, match="StringValue"):
        unpack(first, Int64Value)
    assert rows[0].subject == "stockroom.inventory.thing.SKU-1"
    await engine.dispose()


def test_subject_tokens_never_split_or_wildcard() -> None:
    assert subject_token("SKU.1 >*") == "SKU_1___"
    assert subject_token("") == "_"
    assert subject_token("WH-1") == "WH-1"


def test_settings_from_the_environment() -> None:
    off = EventsConfig.from_env("inventory", "INVENTORY", env={})
    assert not off.enabled
    assert off.stream_name == "STOCKROOM_INVENTORY"
    assert off.subject("ledger", "SKU-1") == "stockroom.inventory.ledger.SKU-1"
    on = EventsConfig.from_env(
        "inventory",
        "INVENTORY",
        env={
            "INVENTORY_EVENTS_ENABLED": "true",
            "INVENTORY_EVENTS_URL": "nats://a:4222, nats://b:4222",
            "INVENTORY_EVENTS_DUPLICATE_WINDOW_S": "60",
            "INVENTORY_EVENTS_BATCH_SIZE": "10",
        },
    )
    assert on.enabled
    assert on.servers == ["nats://a:4222", "nats://b:4222"]
    assert (on.duplicate_window_s, on.batch_size) == (60.0, 10)
    with pytest.raises(ConfigError, match="INVENTORY_EVENTS_BATCH_SIZE"):
        EventsConfig.from_env("inventory", "INVENTORY", env={"INVENTORY_EVENTS_BATCH_SIZE": "x"})
    with pytest.raises(ConfigError, match="INVENTORY_EVENTS_ENABLED"):
        EventsConfig.from_env("inventory", "INVENTORY", env={"INVENTORY_EVENTS_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match="EVENTS_URL"):
        EventsConfig("inventory", enabled=True, url=" ")
    with pytest.raises(ConfigError):
        EventsConfig("inventory", batch_size=0)


async def test_pruning_deletes_only_published_rows_past_the_age(database_url: str) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    await append_events(engine, CONFIG, ["a", "b"], per_key=5)  # 10 rows
    async with engine.begin() as connection:
        positions = (
            (await connection.execute(select(outbox.c.position).order_by(outbox.c.position)))
            .scalars()
            .all()
        )
        # 6 published long ago, 2 published just now, 2 still pending.
        await connection.execute(
            update(outbox)
            .where(outbox.c.position.in_(positions[:6]))
            .values(publish_time=NOW - timedelta(days=2))
        )
        await connection.execute(
            update(outbox).where(outbox.c.position.in_(positions[6:8])).values(publish_time=NOW)
        )
    cutoff = NOW - timedelta(days=1)
    # Bounded per call: 2 batches of 2.
    assert (
        await prune_published(engine, outbox, published_before=cutoff, batch_size=2, max_batches=2)
        == 4
    )
    assert await prune_published(engine, outbox, published_before=cutoff) == 2
    assert await prune_published(engine, outbox, published_before=cutoff) == 0
    async with engine.connect() as connection:
        left = (
            (await connection.execute(select(outbox.c.position).order_by(outbox.c.position)))
            .scalars()
            .all()
        )
    assert left == positions[6:]
    await engine.dispose()


async def test_settled_rows_are_kept_for_readers_wake_no_relay_and_are_pruned_by_age(
    database_url: str,
) -> None:
    """Rows a service writes for its own readers while publishing is off: already
    published (a relay started later skips them), pruned after the same age."""
    engine = create_engine(database_url)
    await create_schema(engine)
    announced: list[int] = []
    remove = watch_commits(engine, lambda: announced.append(1))
    async with engine.begin() as connection:
        await append(connection, outbox, [event(CONFIG, "a", 0)], NOW, settled=True)
    remove()
    async with engine.connect() as connection:
        (row,) = (await connection.execute(select(outbox))).all()

    assert announced == []  # no relay to wake
    assert row.publish_time.replace(tzinfo=NOW.tzinfo) == NOW
    assert await prune_published(engine, outbox, published_before=NOW) == 0
    assert await prune_published(engine, outbox, published_before=NOW + timedelta(days=1)) == 1
    await engine.dispose()


async def test_positions_are_never_handed_out_again_after_pruning(database_url: str) -> None:
    """With ``never_reuse_positions`` a reader that remembers "after N" misses nothing:
    on SQLite a plain rowid would start again after the largest row left."""
    engine = create_engine(database_url)
    reused_metadata = MetaData()
    table = outbox_table(reused_metadata, "kept_outbox", never_reuse_positions=True)
    async with engine.begin() as connection:
        await connection.run_sync(reused_metadata.create_all)
        first = await append(connection, table, [event(CONFIG, "a", n) for n in range(3)], NOW)
        await connection.execute(table.delete())
        later = await append(connection, table, [event(CONFIG, "a", 3)], NOW)
    await engine.dispose()

    assert later[0] > max(first)


async def test_pruning_request_records_keeps_recent_and_unfinished_ones(database_url: str) -> None:
    engine = create_engine(database_url)
    await create_schema(engine)
    rows = [
        ("old-done", b"r", NOW - timedelta(days=3)),
        ("old-done-2", b"r", NOW - timedelta(days=2)),
        ("old-claimed", None, NOW - timedelta(days=3)),
        ("recent", b"r", NOW - timedelta(hours=1)),
    ]
    async with engine.begin() as connection:
        await connection.execute(
            request_records.insert(),
            [
                {
                    "request_id": r,
                    "method": "M",
                    "fingerprint": "f",
                    "response": b,
                    "create_time": t,
                }
                for r, b, t in rows
            ],
        )
    assert (
        await prune_request_records(engine, request_records, created_before=NOW - timedelta(days=1))
        == 2
    )
    async with engine.connect() as connection:
        left = set((await connection.execute(select(request_records.c.request_id))).scalars())
        count = await connection.scalar(select(func.count()).select_from(request_records))
    assert left == {"old-claimed", "recent"}
    assert count == 2
    await engine.dispose()


def test_the_outbox_imports_without_nats_and_the_relay_says_what_is_missing() -> None:
    block_nats = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "nats" or name.startswith("nats."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Missing())
"""
    outbox_only = subprocess.run(
        [sys.executable, "-c", block_nats + "import stockroom.common.events"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outbox_only.returncode == 0, outbox_only.stderr
    relay = subprocess.run(
        [sys.executable, "-c", block_nats + "import stockroom.common.events.relay"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert relay.returncode != 0
    assert "No module named 'nats'" in relay.stderr
