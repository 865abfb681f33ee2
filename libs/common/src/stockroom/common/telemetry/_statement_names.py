"""Span names for SQL statements: ``{operation} {table}`` (``SELECT stock_levels``,
``INSERT movements``), as OpenTelemetry's database conventions name them, instead of the
statement's first word and the database name (``--`` for a statement that opens with a
comment, ``WITH`` for a data-modifying CTE).

Not a SQL parser: it strips comments, and for a ``WITH`` statement names the first table
written (the point of a data-modifying CTE), else the first table read.
"""

from __future__ import annotations

import re

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_NAME = r'"?([A-Za-z_][\w$]*)"?(?:\."?([A-Za-z_][\w$]*)"?)?'
_WRITES = re.compile(rf"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+{_NAME}", re.I)
_READ = re.compile(rf"\bFROM\s+{_NAME}", re.I)
_OPERATIONS = {"INSERT INTO": "INSERT", "DELETE FROM": "DELETE", "UPDATE": "UPDATE"}


def _table(match: re.Match[str]) -> str:
    """The last name matched: ``table`` of ``schema.table``."""
    schema_or_table, table = match.groups()[-2:]
    return str(table or schema_or_table)


def statement_span_name(statement: str) -> str | None:
    """``OPERATION table``, ``OPERATION`` alone (``BEGIN``), or None when nothing is left."""
    text = _COMMENTS.sub(" ", statement).strip()
    if not text:
        return None
    operation = text.split(None, 1)[0].upper()
    if operation in ("INSERT", "UPDATE", "DELETE", "WITH"):
        write = _WRITES.search(text)
        if write:
            kind = _OPERATIONS[" ".join(write.group(1).upper().split())]
            return f"{kind} {_table(write)}"
    if operation in ("SELECT", "WITH"):
        read = _READ.search(text)
        return f"SELECT {_table(read)}" if read else "SELECT"
    return operation
