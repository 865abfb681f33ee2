"""Stopping the background jobs never hangs the server's stop, whatever a job does."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stockroom.inventory.background import BackgroundJobs


async def test_a_cancelled_job_stops_and_one_that_ignores_cancellation_is_named_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    stopped: list[str] = []

    async def polite() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append("polite")

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # swallows every cancellation, as a buggy job would

    jobs = BackgroundJobs()
    jobs.start("polite", polite)
    jobs.start("stubborn", stubborn)
    await asyncio.sleep(0)  # both started
    with caplog.at_level(logging.WARNING, logger="stockroom.inventory.background"):
        await jobs.stop(timeout_s=0.05)  # the stubborn job never ends: the bound must return
    assert stopped == ["polite"]
    warnings = [r for r in caplog.records if r.getMessage().startswith("background jobs")]
    assert [getattr(r, "jobs", None) for r in warnings] == [["stubborn"]]
    release.set()  # let the left-behind job end before the loop closes
    await asyncio.sleep(0)
