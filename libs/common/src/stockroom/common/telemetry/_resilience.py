"""Metrics for the resilience machinery: breakers, retry budgets, load shedding, health.

The resilience code knows nothing about metrics: it keeps plain values and
announces changes through ``Listeners``. This module reads those values when
a metric reader collects (an OTLP export, a Prometheus scrape) and counts the
announced events. Collection runs on the reader's thread while the values
change on the event loop, so the registries are locked and every callback
only reads: the breaker's lazy open-to-half-open step (which ``state`` would
take) is never triggered from here, and the gauge shows the state as of the
last transition.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from stockroom.common.client._breaker import BreakerState, StateChange
from stockroom.common.telemetry import _names as names
from stockroom.common.telemetry._rpc import rpc_attributes

if TYPE_CHECKING:
    from stockroom.common.client._downstream import Downstream
    from stockroom.common.server._shedding import LoadShedder

# The breaker gauge's values: higher is worse, so "max over targets" finds trouble.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class ObservedServer(Protocol):
    """What a server exposes for metrics (``GrpcServer`` does)."""

    @property
    def shedder(self) -> LoadShedder: ...

    @property
    def port(self) -> int: ...

    @property
    def serving(self) -> bool: ...


@dataclass
class _TrackedDownstream:
    downstream: weakref.ref[Downstream]
    target: str
    state: BreakerState


class ResilienceMetrics:
    """Breaker, budget and server instruments for one meter; track what exists as it appears."""

    def __init__(self, meter: metrics.Meter) -> None:
        self._lock = threading.Lock()
        self._downstreams: list[_TrackedDownstream] = []
        self._servers: list[weakref.ref[ObservedServer]] = []
        self._transitions = meter.create_counter(
            names.BREAKER_TRANSITIONS,
            unit="{transition}",
            description="Circuit breaker state changes, by target and the state entered.",
        )
        self._shed = meter.create_counter(
            names.SERVER_SHED_CALLS,
            unit="{call}",
            description="Calls refused with RESOURCE_EXHAUSTED by load shedding, by method.",
        )
        meter.create_observable_gauge(
            names.BREAKER_STATE_GAUGE,
            [self._breaker_states],
            unit="1",
            description="Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
        )
        meter.create_observable_counter(
            names.BREAKER_REJECTED_CALLS,
            [self._rejected_calls],
            unit="{call}",
            description="Calls an open breaker failed fast with CIRCUIT_OPEN, by target.",
        )
        meter.create_observable_gauge(
            names.RETRY_BUDGET_TOKENS,
            [self._budget_tokens],
            unit="{token}",
            description="Retry budget tokens left per target; retries stop at half.",
        )
        meter.create_observable_counter(
            names.RETRY_BUDGET_DENIED,
            [self._denied_retries],
            unit="{retry}",
            description="Retries the budget refused, by target.",
        )
        meter.create_observable_gauge(
            names.SERVER_IN_FLIGHT,
            [self._in_flight],
            unit="{call}",
            description="Calls being handled now (load shedding starts at MAX_CONCURRENT_RPCS).",
        )
        meter.create_observable_gauge(
            names.SERVER_SERVING,
            [self._serving],
            unit="1",
            description="1 while the health service says SERVING, 0 when not ready or draining.",
        )

    def track_downstream(self, downstream: Downstream) -> None:
        tracked = _TrackedDownstream(
            weakref.ref(downstream), downstream.target, downstream.breaker.state
        )
        with self._lock:
            # Pruned here too: without a metric reader the callbacks below never run.
            self._downstreams = [t for t in self._downstreams if t.downstream() is not None]
            self._downstreams.append(tracked)

        def on_change(change: StateChange) -> None:
            tracked.state = change.current
            self._transitions.add(
                1, {names.TARGET: tracked.target, names.BREAKER_STATE: change.current.value}
            )

        downstream.breaker.on_state_change.add(on_change)

    def track_server(self, server: ObservedServer) -> None:
        with self._lock:
            self._servers = [ref for ref in self._servers if ref() is not None]
            self._servers.append(weakref.ref(server))
        counter = self._shed
        server.shedder.on_shed.add(lambda method: counter.add(1, rpc_attributes(method)))

    def _live_downstreams(self) -> list[tuple[_TrackedDownstream, Downstream]]:
        with self._lock:
            alive = [(t, d) for t in self._downstreams if (d := t.downstream()) is not None]
            self._downstreams = [t for t, _ in alive]
        return alive

    def _live_servers(self) -> list[ObservedServer]:
        with self._lock:
            alive = [s for ref in self._servers if (s := ref()) is not None]
            self._servers = [weakref.ref(s) for s in alive]
        return [s for s in alive if s.port]

    def _breaker_states(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(BREAKER_STATE_VALUES[t.state], {names.TARGET: t.target})
            for t, _ in self._live_downstreams()
        ]

    def _rejected_calls(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(d.breaker.rejected_calls, {names.TARGET: t.target})
            for t, d in self._live_downstreams()
        ]

    def _budget_tokens(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(d.budget.tokens, {names.TARGET: t.target})
            for t, d in self._live_downstreams()
        ]

    def _denied_retries(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(d.budget.retries_denied, {names.TARGET: t.target})
            for t, d in self._live_downstreams()
        ]

    def _in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(s.shedder.in_flight, {names.SERVER_PORT: s.port})
            for s in self._live_servers()
        ]

    def _serving(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(int(s.serving), {names.SERVER_PORT: s.port}) for s in self._live_servers()
        ]
