"""The service's JetStream stream, created or brought up to date at startup (idempotent)."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from stockroom.common.events._config import EventsConfig

logger = logging.getLogger(__name__)


def stream_config(config: EventsConfig) -> StreamConfig:
    """Limits retention (consumers come and go; events stay ``max_age_s``), on disk."""
    return StreamConfig(
        name=config.stream_name,
        subjects=[f"{config.prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=config.max_age_s,
        duplicate_window=config.duplicate_window_s,
    )


async def ensure_stream(js: JetStreamContext, config: EventsConfig) -> None:
    """Create the stream, or update it when its subjects or windows differ; else nothing.

    Several replicas starting at once may race to create it: the loser sees
    it exists and compares, so the outcome is the same.
    """
    wanted = stream_config(config)
    try:
        info = await js.stream_info(config.stream_name)
    except NotFoundError:
        try:
            await js.add_stream(wanted)
            logger.info("event stream created", extra={"stream": config.stream_name})
            return
        except Exception:  # lost a creation race, or a real failure: look again
            info = await js.stream_info(config.stream_name)
    current = info.config
    if (
        sorted(current.subjects or []) != sorted(wanted.subjects or [])
        or current.max_age != wanted.max_age
        or current.duplicate_window != wanted.duplicate_window
    ):
        merged = current.evolve(
            subjects=wanted.subjects,
            max_age=wanted.max_age,
            duplicate_window=wanted.duplicate_window,
        )
        await js.update_stream(merged)
        logger.info("event stream updated", extra={"stream": config.stream_name})
