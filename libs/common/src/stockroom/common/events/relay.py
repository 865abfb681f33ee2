"""The relay, importable only with the ``events`` extra (nats-py) installed."""

from stockroom.common.events._relay import BROKER_ERRORS, Relay
from stockroom.common.events._stream import ensure_stream, stream_config

__all__ = ["BROKER_ERRORS", "Relay", "ensure_stream", "stream_config"]
