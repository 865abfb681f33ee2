"""Outbox rows to the CloudEvents-style protobuf envelope consumers receive, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from stockroom.events.v1.envelope_pb2 import Envelope

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
TYPE_URL_PREFIX = "type.googleapis.com/"

M = TypeVar("M", bound=Message)


def message_id(row: Any) -> str:
    """The JetStream ``Nats-Msg-Id`` and envelope id of an outbox row."""
    return str(row.dedupe_id) if row.dedupe_id else str(row.position)


def envelope(row: Any, source: str) -> Envelope:
    """The envelope of one outbox row (built at publication, identical every time)."""
    created: datetime = row.create_time
    if created.tzinfo is None:  # SQLite gives back the UTC wall time, naive
        created = created.replace(tzinfo=UTC)
    result = Envelope(
        id=message_id(row),
        source=source,
        spec_version=SPEC_VERSION,
        type=row.event_type,
        subject=row.about,
        data_content_type=CONTENT_TYPE,
        data=AnyMessage(type_url=TYPE_URL_PREFIX + row.data_type, value=bytes(row.data)),
        sequence=row.position,
    )
    result.time.FromDatetime(created.astimezone(UTC))
    return result


def decode(payload: bytes) -> Envelope:
    """A received message body as an ``Envelope`` (what consumers call first)."""
    return Envelope.FromString(payload)


def unpack(received: Envelope, message_type: type[M]) -> M:
    """The envelope's payload as ``message_type`` (ValueError if it is another type)."""
    data = message_type()
    if not received.data.Unpack(data):
        raise ValueError(
            f"event {received.id} carries {received.data.type_url}, "
            f"not {message_type.DESCRIPTOR.full_name}"
        )
    return data
