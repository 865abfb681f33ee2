"""Every service reads its settings one way: ``<PREFIX>_<FIELD>`` variables over defaults."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stockroom.common.server import ConfigError, ServerConfig, settings_from_env


@dataclass(frozen=True)
class ShopSettings:
    server: ServerConfig
    sweep_interval_s: float = 1.0
    batch: int = 10
    target: str = "localhost:1"


def read(env: dict[str, str]) -> ShopSettings:
    server = ServerConfig.from_env("shop", "SHOP", env=env, defaults={"port": 7000})
    return settings_from_env(ShopSettings, "SHOP", env, given={"server": server})


def test_variables_override_defaults_and_are_parsed_by_type() -> None:
    settings = read({"SHOP_SWEEP_INTERVAL_S": "0.5", "SHOP_BATCH": "3", "SHOP_PORT": "7100"})

    assert settings == ShopSettings(
        ServerConfig("shop", port=7100), sweep_interval_s=0.5, batch=3, target="localhost:1"
    )
    assert read({}).server.port == 7000  # the service's default, not the library's


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SHOP_BATCH", "many"),
        ("SHOP_BATCH", "1.5"),
        ("SHOP_SWEEP_INTERVAL_S", "-1"),
        ("SHOP_PORT", "-2"),
    ],
)
def test_an_unusable_value_stops_startup_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        read({name: raw})
