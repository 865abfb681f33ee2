"""One output model for every command: a response becomes plain data once (``to_data``), then
``table`` (aligned columns, money with its currency's decimals, zeros shown), ``json`` (one
document; streams one object per line) or ``yaml``.

Data keeps every field, zeros included; int64 stays a number; money is an exact decimal
string with its currency; timestamps are RFC 3339 (UTC); enum values drop their type prefix.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

import iso4217
import yaml
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "yaml")
NANOS = Decimal(1_000_000_000)
Data = dict[str, Any]
# Which rows a table lists: a repeated field's name, or a function of the data.
Rows = str | Callable[[Data], list[Data]] | None


def money_amount(units: int, nanos: int, currency_code: str) -> str:
    """The amount with at least the currency's decimals (12.50 USD, 1200 JPY), never fewer
    than the value needs (an exact price of 0.125 USD stays 0.125)."""
    amount = Decimal(units) + Decimal(nanos) / NANOS
    try:
        places = int(iso4217.Currency(currency_code).exponent or 0)
    except (ValueError, KeyError):
        places = 2
    exponent = amount.normalize().as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{amount:.{max(places, needed)}f}"


def _enum_name(enum: EnumDescriptor, number: int) -> str:
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    value = enum.values_by_number.get(number)
    return value.name.removeprefix(prefix) if value else str(number)


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_data(value)
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return _enum_name(field.enum_type, value)
    return value


def to_data(message: Message) -> Any:
    """Every field of ``message`` (zeros too) as plain data."""
    name = message.DESCRIPTOR.full_name
    if name == "google.type.Money":
        code = message.currency_code  # type: ignore[attr-defined]
        amount = money_amount(message.units, message.nanos, code)  # type: ignore[attr-defined]
        return {"amount": amount, "currency_code": code}
    if name == "google.protobuf.Timestamp":
        return message.ToJsonString() if message.ByteSize() else None  # type: ignore[attr-defined]
    if name == "google.protobuf.Duration":
        return message.ToJsonString()  # type: ignore[attr-defined]
    data: Data = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            data[field.name] = [_value(field, v) for v in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(field.name):
            data[field.name] = None
        else:
            data[field.name] = _value(field, value)
    return data


def cell(value: Any) -> str:
    """One value as table text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        if set(value) == {"amount", "currency_code"}:
            return f"{value['amount']} {value['currency_code']}".strip()
        return " ".join(f"{k}={cell(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, list):
        return "; ".join(cell(v) for v in value)
    return str(value)


def _numeric(values: Iterable[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


class PipeClosed(Exception):
    """The reader of stdout went away (``| head``): not an OSError, so that Click leaves it
    to ``main``, which ends the command quietly with exit code 0."""


def _pipe_safe(write: Callable[..., None]) -> Callable[..., None]:
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            write(*args, **kwargs)
        except BrokenPipeError:
            raise PipeClosed from None

    return guarded


class Printer:
    """Writes results in the chosen format to stdout."""

    def __init__(self, fmt: str, out: TextIO | None = None) -> None:
        self.fmt = fmt
        self.out = out or sys.stdout
        console = Console(file=self.out, soft_wrap=True, highlight=False)
        # A pipe or file has no width: never squeeze columns there.
        width = None if console.is_terminal else 100_000
        self.console = Console(file=self.out, soft_wrap=True, highlight=False, width=width)

    @_pipe_safe
    def result(self, data: Data, rows: Rows = None) -> None:
        """A whole response: ``rows`` says what a table lists (else it shows a record)."""
        if self.fmt == "json":
            self.out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        elif self.fmt == "yaml":
            self.out.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        elif rows is not None:
            self.table(data.get(rows) or [] if isinstance(rows, str) else rows(data))
            if isinstance(rows, str):
                rest = {k: v for k, v in data.items() if k != rows and v not in ("", None)}
                if rest:  # e.g. next_page_token
                    self.record(rest)
        else:
            self.record(data)
        self.out.flush()

    def table(self, rows: Sequence[Data], title: str | None = None) -> None:
        if not rows:
            self.console.print("(none)" if title is None else f"{title}: (none)")
            return
        # Nested records and lists of them stay out of tables (json and yaml show them).
        columns = [c for c in rows[0] if not any(_nested(r.get(c)) for r in rows)]
        table = Table(title=title, title_justify="left", box=None, pad_edge=False)
        for column in columns:
            numeric = _numeric(r.get(column) for r in rows)
            table.add_column(column.upper(), justify="right" if numeric else "left")
        for row in rows:
            table.add_row(*(cell(row.get(c)) for c in columns))
        self.console.print(table)

    def record(self, data: Data) -> None:
        """Scalars as FIELD value lines, then each list of records as its own table."""
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        nested: list[tuple[str, list[Data]]] = []
        for key, value in _flatten(data):
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                nested.append((key, value))
            else:
                table.add_row(key, cell(value))
        self.console.print(table)
        for key, rows in nested:
            self.console.print()
            self.table(rows, title=key)

    @_pipe_safe
    def event(self, data: Data, columns: Sequence[str]) -> None:
        """One streamed event: one line (tab-aligned fields for tables, one object for json)."""
        if self.fmt == "json":
            self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
        elif self.fmt == "yaml":
            self.out.write(yaml.safe_dump([data], sort_keys=False, allow_unicode=True))
        else:
            self.out.write("  ".join(cell(data.get(c)) for c in columns) + "\n")
        self.out.flush()


def _nested(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) != {"amount", "currency_code"}
    return isinstance(value, list) and any(isinstance(v, Mapping) for v in value)


def _flatten(data: Data, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested records inline as ``outer.inner`` (money stays one value)."""
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and set(value) != {"amount", "currency_code"}:
            items.extend(_flatten(dict(value), f"{name}."))
        else:
            items.append((name, value))
    return items
