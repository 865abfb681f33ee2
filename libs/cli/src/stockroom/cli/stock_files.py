"""Rows of a stock file (CSV with a header, or JSON Lines), one at a time: what
``stockroom inventory import`` streams, never holding the file in memory.

Columns (CSV header names, JSON keys): ``sku``, ``location_id``, and one of
``on_hand`` (set the count) or ``add`` (add units; negative takes away;
``quantity`` is read as ``add``, so receipt files of the old import still
work); optional ``expected_on_hand``, ``etag``, ``reason``, ``reference``,
``request_id``. Blank lines are skipped.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockroom.inventory.v1 import inventory_pb2 as pb

FORMATS = ("csv", "jsonl")


class BadRow(ValueError):
    """A line that is not a stock row; ``line`` is its 1-based line number."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line


@dataclass(frozen=True)
class Defaults:
    """What a row without its own value gets."""

    reason: str
    reference: str
    import_id: str


@dataclass(frozen=True)
class FileRow:
    line: int
    row: pb.StockAdjustmentRow


def file_format(path: Path, given: str | None) -> str:
    if given:
        return given
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def read_rows(path: Path, fmt: str, defaults: Defaults) -> Iterator[FileRow]:
    """The file's rows in order; BadRow at the first line that is not one."""
    with path.open(newline="", encoding="utf-8") as handle:
        if fmt == "jsonl":
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as error:
                    raise BadRow(number, f"not JSON ({error.args[0]})") from None
                if not isinstance(record, dict):
                    raise BadRow(number, "expected a JSON object")
                yield FileRow(number, _row(number, record, defaults))
            return
        reader = csv.DictReader(handle)
        for record in reader:
            number = reader.line_num
            if not any((value or "").strip() for value in record.values()):
                continue
            yield FileRow(number, _row(number, record, defaults))


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value).strip()


def _row(number: int, record: dict[str, Any], defaults: Defaults) -> pb.StockAdjustmentRow:
    def whole(key: str) -> int | None:
        value = _text(record, key)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise BadRow(number, f"{key} {value!r} is not a whole number") from None

    sku, location = _text(record, "sku"), _text(record, "location_id")
    if not sku or not location:
        raise BadRow(number, "sku and location_id are required")
    on_hand, add, expected = whole("on_hand"), whole("add"), whole("expected_on_hand")
    if add is None:
        add = whole("quantity")
    if (on_hand is None) == (add is None):
        raise BadRow(number, "give exactly one of on_hand (a count) or add (units to add)")
    row = pb.StockAdjustmentRow(
        sku=sku,
        location_id=location,
        etag=_text(record, "etag"),
        reason=_text(record, "reason") or defaults.reason,
        reference=_text(record, "reference") or defaults.reference,
        # Derived from the import and the line: the same import run again is a replay.
        request_id=_text(record, "request_id")
        or str(uuid.uuid5(uuid.UUID(defaults.import_id), str(number))),
    )
    try:
        if on_hand is not None:
            row.set_on_hand = on_hand
        elif add is not None:
            row.add_on_hand = add
        if expected is not None:
            row.expected_on_hand = expected
    except ValueError as error:  # a number past int64
        raise BadRow(number, str(error)) from None
    return row
