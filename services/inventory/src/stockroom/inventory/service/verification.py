"""VerifyLedger: the ledger's invariant checked a page of stock levels at a time.

The RPC answers one page (its size bounds both the work and the answer); the
operator's job (``deploy/verify_ledger.py``) and ``stockroom inventory
verify-ledger`` go through every page. All of them run the one statement in
``store.verification`` and the one rule in ``domain.verification``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.inventory.domain.verification import VerificationPage
from stockroom.inventory.store import verification
from stockroom.inventory.store.transactions import Transactions

# Levels per page when the caller does not say, and at most.
DEFAULT_PAGE = 500
MAX_PAGE = 1000


class LedgerVerification:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def page(self, after: tuple[str, str] | None, size: int) -> VerificationPage:
        """Check up to ``size`` levels after ``after`` (SKU, location)."""

        async def work(connection: AsyncConnection) -> VerificationPage:
            found = await verification.accounts(connection, after, size + 1)
            checked = found[:size]
            more = len(found) > size
            return VerificationPage(
                tuple(a for a in checked if not a.agrees),
                len(checked),
                (checked[-1].sku, checked[-1].location_id) if more else None,
            )

        return await self._transactions.read(work)

    async def pages(self, size: int = MAX_PAGE) -> AsyncIterator[VerificationPage]:
        """Every page, from the first level to the last."""
        after: tuple[str, str] | None = None
        while True:
            page = await self.page(after, size)
            yield page
            if page.next_cursor is None:
                return
            after = page.next_cursor
