"""Pricing's own settings read the one way every service's do, and refuse bad values at startup."""

from __future__ import annotations

import pytest

from stockroom.common.server import ConfigError, ServerConfig
from stockroom.pricing.app import PricingSettings
from stockroom.pricing.domain.money import RoundingMode
from stockroom.pricing.domain.rounding import CurrencyRules
from stockroom.pricing.publisher import EventSettings


def test_defaults_round_half_even_keep_a_one_second_bound_and_publish_nothing() -> None:
    settings = PricingSettings.from_env({})

    assert settings.server.port == 50052
    assert settings.currency_rules == CurrencyRules()
    assert settings.cache_staleness_ms == 1000
    assert settings.events == EventSettings()
    assert settings.events.nats_url == ""


def test_rounding_cache_and_event_variables_are_read_and_parsed() -> None:
    settings = PricingSettings.from_env(
        {
            "PRICING_ROUNDING_MODES": "CHF=half_up, SEK=HALF_UP",
            "PRICING_CASH_ROUNDING": "CHF=0.05",
            "PRICING_CACHE_STALENESS_MS": "250",
            "PRICING_EVENTS_NATS_URL": "nats://127.0.0.1:4222",
            "PRICING_EVENTS_STREAM": "PRICES",
            "PRICING_EVENTS_SUBJECT": "shop.prices",
        }
    )

    assert settings.currency_rules == CurrencyRules(
        {"CHF": RoundingMode.HALF_UP, "SEK": RoundingMode.HALF_UP}, {"CHF": 5}
    )
    assert settings.cache_staleness_ms == 250
    assert settings.events == EventSettings("nats://127.0.0.1:4222", "PRICES", "shop.prices")


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PRICING_ROUNDING_MODES", "CHF=HALF_DOWN"),
        ("PRICING_ROUNDING_MODES", "XYZ=HALF_UP"),
        ("PRICING_ROUNDING_MODES", "CHF"),
        ("PRICING_CASH_ROUNDING", "CHF=0.005"),
        ("PRICING_CASH_ROUNDING", "CHF=0"),
        ("PRICING_CASH_ROUNDING", "CHF=five"),
        ("PRICING_CACHE_STALENESS_MS", "0"),
        ("PRICING_CACHE_STALENESS_MS", "-5"),
        ("PRICING_CACHE_STALENESS_MS", "soon"),
    ],
)
def test_an_unusable_value_stops_startup_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        PricingSettings.from_env({name: raw})


def test_settings_built_in_code_are_checked_the_same_way() -> None:
    server = ServerConfig(service_name="pricing", port=0)

    with pytest.raises(ConfigError, match="PRICING_CASH_ROUNDING"):
        PricingSettings(server, cash_rounding="JPY=0.5")
