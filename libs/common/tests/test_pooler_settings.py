"""The pooler setting turns into the URL parameters asyncpg needs, and back into ints."""

from __future__ import annotations

import pytest

from stockroom.common._pooler import behind_pooler
from stockroom.common.db._engine import engine_arguments
from stockroom.common.server import ConfigError, ReadRoutingInterceptor, ServerConfig
from stockroom.common.testing import LEDGER_APPEND, LEDGER_BALANCE

PGBOUNCER = "postgresql+asyncpg://app:s%40cret@pgbouncer:6432/inventory"


def test_a_transaction_pooler_turns_both_statement_caches_off() -> None:
    url = behind_pooler(PGBOUNCER + "?ssl=require", "transaction")
    parsed, connect_args = engine_arguments(url)
    assert connect_args == {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    assert dict(parsed.query) == {"ssl": "require"}
    assert parsed.password == "s@cret"


@pytest.mark.parametrize("pooler", ["", "session"])
def test_other_modes_leave_the_url_alone(pooler: str) -> None:
    assert behind_pooler(PGBOUNCER, pooler) == PGBOUNCER
    assert engine_arguments(PGBOUNCER)[1] == {}


def test_the_setting_applies_to_the_primary_and_the_replica_but_not_to_sqlite() -> None:
    config = ServerConfig.from_env(
        "inventory",
        "INVENTORY",
        env={
            "INVENTORY_DATABASE_URL": PGBOUNCER,
            "INVENTORY_DATABASE_REPLICA_URL": PGBOUNCER + "_replica",
            "INVENTORY_DATABASE_POOLER": "transaction",
        },
    )
    assert engine_arguments(config.database_url)[1]["statement_cache_size"] == 0
    assert engine_arguments(config.database_replica_url)[1]["statement_cache_size"] == 0
    sqlite = ServerConfig(
        "x", database_url="sqlite+aiosqlite:///a.db", database_pooler="transaction"
    )
    assert sqlite.database_url == "sqlite+aiosqlite:///a.db"


def test_an_unknown_pooler_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="database_pooler"):
        ServerConfig.from_env("x", "X", env={"X_DATABASE_POOLER": "statement"})


def test_only_side_effect_free_methods_outside_the_fresh_list_may_read_stale() -> None:
    routing = ReadRoutingInterceptor()
    assert routing.applies_to(LEDGER_BALANCE)
    assert not routing.applies_to(LEDGER_APPEND)
    assert not routing.applies_to("/unknown.Service/Method")
    assert not ReadRoutingInterceptor([LEDGER_BALANCE]).applies_to(LEDGER_BALANCE)
