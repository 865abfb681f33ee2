"""What a connection URL needs to work behind a connection pooler such as PgBouncer.

A service reads ``<SERVICE>_DATABASE_POOLER`` (``transaction`` behind
PgBouncer's ``pool_mode = transaction``) and its URLs get these settings;
they may also be written in the URL by hand. Plain ``urllib`` on purpose:
the server's config must not need the ``db`` extra.

Behind a pooler in transaction mode consecutive transactions of one client
connection may run on different server connections, so a statement prepared
by name in one may be missing, or another client's, in the next. With both
statement caches off (asyncpg's and SQLAlchemy's dialect's) every statement
is an unnamed one that asyncpg parses again in the same round trip that binds
and runs it, which any PgBouncer version forwards safely. The price: no
prepared-statement reuse (docs/scaling.md).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POOLER_MODES = ("", "session", "transaction")
TRANSACTION_POOLER_QUERY = {"statement_cache_size": "0", "prepared_statement_cache_size": "0"}
CACHE_PARAMETERS = tuple(TRANSACTION_POOLER_QUERY)


def behind_pooler(url: str, pooler: str) -> str:
    """``url`` with the statement settings that ``pooler`` (a POOLER_MODES value) needs.

    Only a transaction pooler needs any; SQLite URLs are returned as they are.
    """
    if pooler not in POOLER_MODES:
        raise ValueError(f"unknown pooler mode {pooler!r}; expected one of {POOLER_MODES}")
    if pooler != "transaction" or not url or url.startswith("sqlite"):
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(TRANSACTION_POOLER_QUERY)
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()))))
