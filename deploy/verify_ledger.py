"""Verify the inventory ledger: print every stock level that disagrees with its movements or
its reservations, exit 1 if there is one.

    python deploy/verify_ledger.py                          # INVENTORY_DATABASE_URL
    python deploy/verify_ledger.py --database-url URL --pushgateway http://pushgateway:9091

The check is the inventory package's own (``stockroom.inventory.service.verification``:
one statement per page of levels, one rule), the same the VerifyLedger RPC and
``stockroom inventory verify-ledger`` run; this script runs it straight on a database, so
it works on a restored copy before any service serves it. It reads only.

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

from stockroom.common.db import create_engine
from stockroom.inventory.domain.verification import LevelAccount
from stockroom.inventory.service.verification import LedgerVerification
from stockroom.inventory.store.transactions import Transactions

JOB = "stockroom-verify-ledger"


async def mismatches(database_url: str) -> list[LevelAccount]:
    """Every level that disagrees, page by page (each page one consistent statement)."""
    engine = create_engine(database_url)
    try:
        verification = LedgerVerification(Transactions(engine))
        return [m async for page in verification.pages() for m in page.mismatches]
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
    found = asyncio.run(mismatches(args.database_url))
    for level in found:
        print(
            f"{level.sku} at {level.location_id}: on hand {level.on_hand} (ledger"
            f" {level.ledger_on_hand}), reserved {level.reserved} (ledger {level.ledger_reserved},"
            f" active reservations {level.held_by_reservations}), damaged {level.damaged}"
            f" (ledger {level.ledger_damaged}), quality control {level.quality_control}"
            f" (ledger {level.ledger_quality_control}), backordered {level.backordered} (ledger"
            f" {level.ledger_backordered}, waiting {level.waiting_backorders}), incoming"
            f" {level.incoming} (ledger {level.ledger_incoming}, open receipts"
            f" {level.open_incoming})"
        )
    print(f"ledger verified: {len(found)} mismatch(es)")
    if args.pushgateway:
        push(args.pushgateway, len(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
