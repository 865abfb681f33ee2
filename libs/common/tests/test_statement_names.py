"""Database spans are named by operation and table, whatever the statement opens with."""

from __future__ import annotations

import pytest

from stockroom.common.telemetry._statement_names import statement_span_name


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("SELECT sku FROM stock_levels WHERE sku = $1", "SELECT stock_levels"),
        ('select * from "public"."movements"', "SELECT movements"),
        ("INSERT INTO movements (sequence) VALUES (1)", "INSERT movements"),
        ("UPDATE stock_levels SET on_hand = 1", "UPDATE stock_levels"),
        ("DELETE FROM request_records WHERE 1", "DELETE request_records"),
        ("-- reserve in one statement\nWITH held AS (SELECT 1 FROM stock_levels)\n"
         " UPDATE stock_levels SET reserved = 1", "UPDATE stock_levels"),
        ("/* quote */ WITH p AS (SELECT * FROM prices) SELECT * FROM p", "SELECT prices"),
        ("BEGIN", "BEGIN"),
        ("SELECT 1", "SELECT"),
        ("-- only a comment", None),
    ],
)  # fmt: skip
def test_span_names(statement: str, name: str | None) -> None:
    assert statement_span_name(statement) == name
