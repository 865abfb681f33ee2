"""Verify the inventory ledger (deploy/sql/verify_ledger.sql): print every stock level that
disagrees with its movements or its reservations, exit 1 if there is one.

    python deploy/verify_ledger.py                          # INVENTORY_DATABASE_URL
    python deploy/verify_ledger.py --database-url URL --pushgateway http://pushgateway:9091

With --pushgateway it also pushes stockroom_ledger_verification_mismatches and, when it ran
to the end, stockroom_ledger_verification_last_success_timestamp_seconds (job
"stockroom-verify-ledger"), which the StockroomLedgerVerification* alerts watch. The image
carries it as /opt/stockroom/verify_ledger.py; deploy/k8s/verify-ledger.yaml runs it daily.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import create_async_engine

# deploy/sql/verify_ledger.sql in the repository, beside this file in the image.
QUERIES = (
    Path(__file__).parent / "sql" / "verify_ledger.sql",
    Path(__file__).with_name("verify_ledger.sql"),
)
JOB = "stockroom-verify-ledger"


async def mismatches(database_url: str) -> list[Row[tuple[object, ...]]]:
    """The rows of the verification query, read in one snapshot."""
    query = next(path for path in QUERIES if path.exists()).read_text()
    options = {} if database_url.startswith("sqlite") else {"isolation_level": "REPEATABLE READ"}
    engine = create_async_engine(database_url, **options)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(text(query)))
    finally:
        await engine.dispose()


def push(gateway: str, found: int) -> None:
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    Gauge(
        "stockroom_ledger_verification_mismatches",
        "Stock levels that disagree with the ledger, as last verified",
        registry=registry,
    ).set(found)
    Gauge(
        "stockroom_ledger_verification_last_success_timestamp_seconds",
        "When the ledger verification last ran to the end",
        registry=registry,
    ).set(time.time())
    push_to_gateway(gateway, job=JOB, registry=registry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("INVENTORY_DATABASE_URL", ""))
    parser.add_argument("--pushgateway", default=os.environ.get("STOCKROOM_PUSHGATEWAY", ""))
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("no database: pass --database-url or set INVENTORY_DATABASE_URL")
    rows = asyncio.run(mismatches(args.database_url))
    for row in rows:
        print(
            f"{row.sku} at {row.location_id}: on hand {row.level_on_hand} (ledger"
            f" {row.ledger_on_hand}), reserved {row.level_reserved} (ledger {row.ledger_reserved},"
            f" active reservations {row.held_by_reservations}), damaged {row.level_damaged}"
            f" (ledger {row.ledger_damaged}), quality control {row.level_quality_control}"
            f" (ledger {row.ledger_quality_control})"
        )
    print(f"ledger verified: {len(rows)} mismatch(es)")
    if args.pushgateway:
        push(args.pushgateway, len(rows))
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
