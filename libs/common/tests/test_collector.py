"""The garbage collector set up once a server has started (``server._collector``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from stockroom.common.server import ServerConfig
from stockroom.common.server._collector import DEFAULT_GC_THRESHOLD, tune_collector


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_server_collects_its_youngest_generation_less_often_with_startup_frozen() -> None:
    _, middle, oldest = gc.get_threshold()
    built_at_startup = [object() for _ in range(3)]

    tune_collector(DEFAULT_GC_THRESHOLD)

    assert gc.get_threshold() == (DEFAULT_GC_THRESHOLD, middle, oldest)
    assert gc.get_freeze_count() >= len(built_at_startup)


def test_zero_leaves_the_collector_as_cpython_set_it() -> None:
    before = gc.get_threshold()

    tune_collector(0)

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_threshold_is_a_setting() -> None:
    default = ServerConfig.from_env("svc", "SVC", env={})
    off = ServerConfig.from_env("svc", "SVC", env={"SVC_GC_THRESHOLD": "0"})

    assert default.gc_threshold == DEFAULT_GC_THRESHOLD
    assert off.gc_threshold == 0
