"""Pricing's own settings read the one way every service's do, and refuse bad values at startup."""

from __future__ import annotations

import pytest

from stockroom.common.events import EventsConfig
from stockroom.common.server import ConfigError, ServerConfig
from stockroom.pricing.app import PricingSettings
from stockroom.pricing.domain.money import RoundingMode
from stockroom.pricing.domain.rounding import CurrencyRules


def test_defaults_round_half_even_keep_a_one_second_bound_and_publish_nothing() -> None:
    settings = PricingSettings.from_env({})

    assert settings.server.port == 50052
    assert settings.currency_rules == CurrencyRules()
    assert settings.cache_staleness_ms == 1000
    assert settings.events == EventsConfig("pricing")
    assert not settings.events.enabled
    assert settings.events.stream_name == "STOCKROOM_PRICING"
    assert settings.events.keep_published_s == 86_400  # the outbox is pruned after a day
    assert settings.retention_interval_s == 60


def test_rounding_cache_and_event_variables_are_read_and_parsed() -> None:
    settings = PricingSettings.from_env(
        {
            "PRICING_ROUNDING_MODES": "CHF=half_up, SEK=HALF_UP",
            "PRICING_CASH_ROUNDING": "CHF=0.05",
            "PRICING_CACHE_STALENESS_MS": "250",
            "PRICING_EVENTS_ENABLED": "true",
            "PRICING_EVENTS_URL": "nats://127.0.0.1:4222",
            "PRICING_EVENTS_STREAM": "PRICES",
            "PRICING_EVENTS_SUBJECT_PREFIX": "shop.prices",
            "PRICING_EVENTS_KEEP_PUBLISHED_S": "3600",
            "PRICING_RETENTION_INTERVAL_S": "5",
        }
    )

    assert settings.currency_rules == CurrencyRules(
        {"CHF": RoundingMode.HALF_UP, "SEK": RoundingMode.HALF_UP}, {"CHF": 5}
    )
    assert settings.cache_staleness_ms == 250
    assert settings.events == EventsConfig(
        "pricing",
        enabled=True,
        url="nats://127.0.0.1:4222",
        stream="PRICES",
        subject_prefix="shop.prices",
        keep_published_s=3600,
    )
    assert settings.retention_interval_s == 5


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
        # The caches read the outbox: its rows must outlive their pauses between reads.
        ("PRICING_EVENTS_KEEP_PUBLISHED_S", "59"),
        ("PRICING_RETENTION_INTERVAL_S", "0"),
        # Pricing's own publisher is gone: its settings say what replaced them.
        ("PRICING_EVENTS_NATS_URL", "nats://127.0.0.1:4222"),
        ("PRICING_EVENTS_SUBJECT", "pricing.changes"),
    ],
)
def test_an_unusable_value_stops_startup_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        PricingSettings.from_env({name: raw})


def test_settings_built_in_code_are_checked_the_same_way() -> None:
    server = ServerConfig(service_name="pricing", port=0)

    with pytest.raises(ConfigError, match="PRICING_CASH_ROUNDING"):
        PricingSettings(server, cash_rounding="JPY=0.5")
