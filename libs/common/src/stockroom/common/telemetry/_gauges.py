"""A service's own gauges: values only the service knows, such as reservations held.

Two shapes, both exported with everything else (OTLP, Prometheus):

- pushed: the service sets the value whenever it learns it::

      held = gauge("stockroom.inventory.reservations.held", unit="{reservation}",
                   description="Reservations holding stock, as last counted")
      held.set(count)                      # e.g. after each expiry sweep
      held.set(count, {"location": "WH-1"})

- observed: ``read()`` is called at each collection (every export, every
  scrape) on the metric reader's thread, so it must be cheap and must not
  touch the event loop or the database; it returns the current number::

      observe_gauge("stockroom.inventory.watchers", lambda: len(watchers), unit="{stream}")

Every replica reports its own value (``service.instance.id`` tells them
apart); for a value read from the shared database, graph the max, not the sum.
Names start with ``stockroom.<service>.`` so they never collide with the
library's own metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from stockroom.common.telemetry._providers import GLOBAL_TELEMETRY, Telemetry

PREFIX = "stockroom."


class ServiceGauge:
    """A value the service sets; the last one set (per attribute set) is exported."""

    def __init__(self, instrument: Any) -> None:
        # The API's synchronous Gauge type is still private (``metrics._Gauge``) in 1.45.
        self._instrument = instrument

    def set(self, value: float, attributes: Mapping[str, str | int | bool] | None = None) -> None:
        self._instrument.set(value, dict(attributes) if attributes else None)


def gauge(
    name: str, *, unit: str = "1", description: str = "", telemetry: Telemetry = GLOBAL_TELEMETRY
) -> ServiceGauge:
    """A gauge the service sets (``.set(value, attributes)``)."""
    return ServiceGauge(
        telemetry.meter.create_gauge(_checked(name), unit=unit, description=description)
    )


def observe_gauge(
    name: str,
    read: Callable[[], float],
    *,
    unit: str = "1",
    description: str = "",
    telemetry: Telemetry = GLOBAL_TELEMETRY,
) -> None:
    """A gauge whose value ``read()`` returns at each collection (a failing read is
    logged by the SDK and skipped; it never breaks the export)."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(read())]

    telemetry.meter.create_observable_gauge(
        _checked(name), [observe], unit=unit, description=description
    )


def _checked(name: str) -> str:
    if not name.startswith(PREFIX) or name.count(".") < 2:
        raise ValueError(f"service gauge {name!r} must be named stockroom.<service>.<what>")
    return name
