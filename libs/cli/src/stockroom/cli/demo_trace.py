"""Where ``stockroom dev up`` sends the services' telemetry, and how it shows the quote's trace.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set, the
services inherit it and send everything to that collector, Jaeger or Tempo.
Without one, they export to an OTLP receiver inside the command, which prints
the quote's trace as a tree once both services have exported their spans.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping

from stockroom.common.testing import OtlpReceiver, complete_trace, render_trace

QUOTE_SPAN = "stockroom.pricing.v1.PricingService/Quote"
# How long to wait for both services to export the quote's spans; they batch for
# OTEL_BSP_SCHEDULE_DELAY, set to 100 ms below.
TRACE_WAIT_S = 5.0


def collector_endpoint(env: Mapping[str, str]) -> str | None:
    """The operator's OTLP endpoint for traces, if one is configured."""
    return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")


@contextlib.asynccontextmanager
async def telemetry_destination() -> AsyncIterator[tuple[dict[str, str], OtlpReceiver | None]]:
    """The OTEL_* settings to give the services, and the receiver in this process when no
    collector is configured (otherwise the services inherit the operator's settings)."""
    if collector_endpoint(os.environ):
        yield {}, None
        return
    async with OtlpReceiver() as receiver:
        settings = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        yield settings, receiver


async def show_quote_trace(receiver: OtlpReceiver | None) -> None:
    """Print the quote's trace as a tree, or where it went."""
    if receiver is None:
        print(f"traces and metrics: sent over OTLP to {collector_endpoint(os.environ)}\n")
        return
    try:
        trace = await receiver.wait_for(
            lambda: complete_trace(receiver.spans(), QUOTE_SPAN), timeout_s=TRACE_WAIT_S
        )
    except TimeoutError:
        print(f"the quote's trace did not arrive within {TRACE_WAIT_S:.0f} s\n")
        return
    print(f"trace of the quote, {trace[0].trace_id}:")
    for line in render_trace(trace):
        print(f"  {line}")
    print("(no collector configured: set OTEL_EXPORTER_OTLP_ENDPOINT to send traces to Jaeger)\n")
