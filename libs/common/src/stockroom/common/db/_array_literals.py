"""PostgreSQL array literals (``{1,2,3}``, ``{"a","b"}``) for statements that send wide
arrays: one text parameter per array, which the statement casts back
(``CAST(CAST(:p AS text) AS bigint[])``).

Why: asyncpg encodes an array parameter element by element, and for every element it
asks ``isinstance(element, collections.abc.Iterable)`` (and ``Sized`` for a string)
to find nested arrays. Each of those runs ``ABCMeta.__instancecheck__``, a Python
function. For inventory's write batch (about 800 elements for 14 reservations) the
encoding was a fifth of the flush's CPU (docs/performance.md, thirteenth pass). Here
an array of numbers is one ``str.join`` and an array of strings two, both in C;
PostgreSQL's ``array_in`` parses the literal.

Not for a parameter the statement compares row by row (``sku = ANY (...)`` as a filter):
``array_in`` is STABLE, not IMMUTABLE, so PostgreSQL keeps the cast in the plan and parses
the literal again for every row it filters. Send those as arrays.

Quoting follows PostgreSQL's array input syntax: every text element is double-quoted,
so whitespace, commas, braces and the word NULL stay data; only a double quote and a
backslash are escaped (with a backslash). None is the unquoted NULL.
"""

from __future__ import annotations

from collections.abc import Sequence


def int_array(values: Sequence[int]) -> str:
    """``{1,2,3}``: a literal for ``bigint[]`` or ``int[]``."""
    # repr, not str: faster in C. Anything but an int (True, 1.5) is refused by PostgreSQL.
    return "{" + ",".join(map(repr, values)) + "}"


def text_array(values: Sequence[str | None]) -> str:
    """``{"a","b",NULL}``: a literal for ``text[]``; None is NULL."""
    if not values:
        return "{}"
    if None not in values:
        strings: Sequence[str] = values  # type: ignore[assignment]
        joined = "".join(strings)
        if '"' not in joined and "\\" not in joined:
            return '{"' + '","'.join(strings) + '"}'
    return "{" + ",".join(_element(value) for value in values) + "}"


def _element(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
