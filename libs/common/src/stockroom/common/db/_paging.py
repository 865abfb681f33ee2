"""Page sizes and opaque page tokens (AIP-158), the same in every list method.

A page token carries the keyset cursor (the sort key of the last item sent)
and a hash of the request's filters, so a token is only accepted with the
filters it was issued for. Tokens are opaque to callers (base64url JSON):
they must not parse them, and a token they altered is rejected with
INVALID_ARGUMENT, never an INTERNAL error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence

from stockroom.common.errors._errors import invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

Cursor = tuple[str | int, ...]
# Cursor integers are database keys (BIGINT): a forged token with a larger one
# must be refused here, not overflow in the query.
_INT64 = range(-(2**63), 2**63)


def page_size(
    requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    """The page size to use: 0 means the default, above the maximum means the maximum."""
    if requested < 0:
        raise invalid_argument("page_size", "must not be negative", reason="NEGATIVE")
    if requested == 0:
        return default
    return min(requested, maximum)


def encode_page_token(cursor: Cursor, filters: Mapping[str, object]) -> str:
    """An opaque token for the page after ``cursor``, valid only with ``filters``."""
    body = json.dumps({"c": list(cursor), "f": _filters_hash(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_page_token(
    token: str, filters: Mapping[str, object], shape: Sequence[type]
) -> Cursor | None:
    """The cursor in ``token`` (None for the first page).

    ``shape`` lists the type of each cursor element; anything else is a
    malformed token.
    """
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor, filters_hash = body["c"], body["f"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise _bad_token("is not a page token this service issued") from exc
    if (
        not isinstance(cursor, list)
        or len(cursor) != len(shape)
        or not all(type(v) is kind for v, kind in zip(cursor, shape, strict=True))
        or any(type(v) is int and v not in _INT64 for v in cursor)
    ):
        raise _bad_token("is not a page token this service issued")
    if filters_hash != _filters_hash(filters):
        raise _bad_token("was issued for a request with other filters")
    return tuple(cursor)


def next_page_token(cursors: Sequence[Cursor], size: int, filters: Mapping[str, object]) -> str:
    """The token after a page, given the cursors of the rows fetched for it.

    Fetch ``size + 1`` rows: when the extra one came back another page follows
    and the token resumes after row ``size``; otherwise there is none ('').
    """
    if len(cursors) <= size:
        return ""
    return encode_page_token(cursors[size - 1], filters)


def _filters_hash(filters: Mapping[str, object]) -> str:
    canonical = json.dumps(dict(filters), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _bad_token(description: str) -> Exception:
    return invalid_argument("page_token", description, reason="INVALID_PAGE_TOKEN")
