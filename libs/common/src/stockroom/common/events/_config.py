"""Event publication settings, ``<PREFIX>_EVENTS_*`` like every other setting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stockroom.common.server import ConfigError, settings_from_env

DAY_S = 86_400.0


@dataclass(frozen=True)
class EventsConfig:
    """Whether, where and how a service publishes its events (off unless ``enabled``)."""

    # The service's short name: it names the stream, the subjects and the source.
    service: str
    # Publish events at all. Off, the service writes no outbox rows and runs no relay.
    enabled: bool = False
    # NATS server URL(s), comma-separated.
    url: str = "nats://127.0.0.1:4222"
    # JetStream stream; default STOCKROOM_<SERVICE>.
    stream: str = ""
    # Subjects are <prefix>.<kind>.<token>; the stream takes <prefix>.>.
    # Default stockroom.<service>.
    subject_prefix: str = ""
    # JetStream drops a message whose Nats-Msg-Id it stored within this window:
    # long enough to cover a relay's retries after a lost acknowledgement, a
    # restart, or an outage of the relay's database.
    duplicate_window_s: float = 900.0
    # How long the stream keeps events for consumers that were away.
    max_age_s: float = 7 * DAY_S
    # Rows read and published per round.
    batch_size: int = 256
    # Fallback poll when no commit woke the relay (a crashed replica's rows,
    # rows written by another process): one indexed query per interval.
    poll_interval_s: float = 5.0
    # Wait for one publish acknowledgement, and for a connection.
    publish_timeout_s: float = 2.0
    connect_timeout_s: float = 2.0
    # Retry pause while the broker is unreachable: doubles from the first to the last.
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    # Published outbox rows are pruned this long after publication.
    keep_published_s: float = DAY_S

    def __post_init__(self) -> None:
        if not self.service:
            raise ConfigError("EventsConfig needs the service's name")
        if self.enabled and not self.servers:
            raise ConfigError("EVENTS_ENABLED needs EVENTS_URL (nats://host:port)")
        if self.batch_size < 1:
            raise ConfigError("EVENTS_BATCH_SIZE must be at least 1")
        for name in ("poll_interval_s", "publish_timeout_s", "connect_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"EVENTS_{name.upper()} must be positive")
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ConfigError("EVENTS_RETRY_INITIAL_S must be positive and at most RETRY_MAX_S")

    @property
    def servers(self) -> list[str]:
        return [url.strip() for url in self.url.split(",") if url.strip()]

    @property
    def stream_name(self) -> str:
        return self.stream or f"STOCKROOM_{self.service.upper()}"

    @property
    def prefix(self) -> str:
        return self.subject_prefix or f"stockroom.{self.service}"

    @property
    def source(self) -> str:
        """The envelope's ``source``: ``/stockroom/<service>``."""
        return f"/stockroom/{self.service}"

    def subject(self, *tokens: str) -> str:
        """``<prefix>.<token>...``; pass tokens through ``subject_token`` first."""
        return ".".join((self.prefix, *tokens))

    @classmethod
    def from_env(
        cls, service: str, prefix: str, *, env: Mapping[str, str] | None = None
    ) -> EventsConfig:
        """Read ``<prefix>_EVENTS_<FIELD>`` for every field (the common settings reader)."""
        return settings_from_env(cls, f"{prefix}_EVENTS", env, given={"service": service})
