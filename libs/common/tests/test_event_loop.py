"""The event loop a service runs on: uvloop by default when installed, asyncio on request."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from stockroom.common.server import ConfigError
from stockroom.common.server._entrypoint import loop_factory


def test_auto_and_uvloop_run_on_uvloop() -> None:
    for name in ("auto", "uvloop"):
        factory = loop_factory(name)
        assert factory is not None
        with asyncio.Runner(loop_factory=factory) as runner:
            assert isinstance(runner.get_loop(), uvloop.Loop)


def test_asyncio_keeps_the_standard_loop() -> None:
    assert loop_factory("asyncio") is None


def test_an_unknown_loop_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="EVENT_LOOP"):
        loop_factory("trio")
