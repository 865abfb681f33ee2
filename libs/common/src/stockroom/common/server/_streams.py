"""Server streams under their own limits, so they can never starve unary calls.

A server stream (WatchStock) holds its slot for as long as the caller keeps
it open, so counting streams with unary calls (the load shedder) lets a few
idle watchers take every slot. Streams get their own budget instead:

- at most ``max_streams`` open at once, and ``max_per_caller`` per caller
  (the client certificate's identity, else the peer's address): past either
  the call gets RESOURCE_EXHAUSTED with a jittered RetryInfo;
- a stream ends after ``max_age_s`` with UNAVAILABLE (reason ``STREAM_MAX_AGE``),
  so long-lived streams spread over replicas again after a deploy;
- when the server drains, every open stream ends at once with UNAVAILABLE
  (reason ``DRAINING``) instead of holding shutdown for the whole grace period.

Both endings carry RetryInfo and a resume hint in ErrorInfo metadata: the
caller reconnects (to any replica) and resumes from the last message it got.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import grpc

from stockroom.common._interceptors import Context, Continuation
from stockroom.common.errors._errors import ResourceExhausted, Unavailable
from stockroom.common.server._authorization import caller_identity

RESUME_HINT = "reconnect and resume after the last message received"


def jittered(delay_s: float, rand: Callable[[], float] = random.random) -> float:
    """``delay_s`` spread over [0.5, 1.5) of itself, so refused callers do not return together."""
    return delay_s * (0.5 + rand())


class StreamGovernor(grpc.aio.ServerInterceptor):
    """Admits, ages and ends the server streams of every service (not health watches)."""

    def __init__(
        self,
        *,
        max_streams: int,
        max_per_caller: int,
        max_age_s: float,
        retry_after_s: float = 1.0,
    ) -> None:
        self.max_streams = max_streams
        self.max_per_caller = max_per_caller
        self.max_age_s = max_age_s
        self.retry_after_s = retry_after_s
        self.open_streams = 0
        self.refused_total = 0
        self._per_caller: Counter[str] = Counter()
        self._draining = asyncio.Event()
        self._wrapped: dict[str, tuple[object, grpc.RpcMethodHandler[Any, Any]]] = {}

    def govern(self, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler`` (a server stream) admitted, aged and ended by this governor."""
        behaviour: Any = handler.unary_stream
        return cast(
            "grpc.RpcMethodHandler[Any, Any]",
            cast("Any", handler)._replace(unary_stream=self._governed(behaviour)),
        )

    def drain(self) -> None:
        """End every open stream now, and refuse new ones."""
        self._draining.set()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if (
            handler is None
            or handler.unary_stream is None
            or method.startswith("/grpc.health.v1.Health/")
        ):
            return cast("grpc.RpcMethodHandler[Any, Any]", handler)
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        behaviour: Any = handler.unary_stream
        wrapped = cast(
            "grpc.RpcMethodHandler[Any, Any]",
            cast("Any", handler)._replace(unary_stream=self._governed(behaviour)),
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _governed(self, behaviour: Any) -> Callable[[Any, Context], AsyncIterator[Any]]:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            caller = caller_identity(context)
            self._admit(caller)
            self.open_streams += 1
            self._per_caller[caller] += 1
            try:
                result = behaviour(request, context)
                if not inspect.isasyncgen(result):
                    await result  # a servicer that writes with context.write
                    return
                async for response in self._bounded(result):
                    yield response
            finally:
                self.open_streams -= 1
                self._per_caller[caller] -= 1
                if self._per_caller[caller] <= 0:
                    del self._per_caller[caller]

        return stream

    def _admit(self, caller: str) -> None:
        if self._draining.is_set():
            raise self._ended("the server is draining", "DRAINING")
        if self.open_streams >= self.max_streams:
            limit = f"{self.max_streams} streams"
        elif self._per_caller[caller] >= self.max_per_caller:
            limit = f"{self.max_per_caller} streams per caller"
        else:
            return
        self.refused_total += 1
        raise ResourceExhausted(
            f"at most {limit} at once; retry after the delay in RetryInfo",
            reason="TOO_MANY_STREAMS",
            retry_after_s=jittered(self.retry_after_s),
        )

    async def _bounded(self, responses: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The servicer's responses until it ends, the stream's age is up, or the server drains."""
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self.max_age_s
        draining = asyncio.ensure_future(self._draining.wait())
        following: asyncio.Future[Any] | None = None
        try:
            while True:
                following = asyncio.ensure_future(anext(responses))
                done, _ = await asyncio.wait(
                    {following, draining},
                    timeout=max(0.0, ends_at - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if following in done:
                    try:
                        yield following.result()
                    except StopAsyncIteration:
                        return
                    continue
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
                if draining in done:
                    raise self._ended("the server is draining", "DRAINING")
                raise self._ended(f"streams last at most {self.max_age_s:g} s", "STREAM_MAX_AGE")
        finally:
            draining.cancel()
            if following is not None and not following.done():
                # Cancelled (the caller went away) while the servicer was producing: its
                # generator is still running in ``following``, and closing a running
                # generator fails. Stop the read first, then close.
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            await cast("Any", responses).aclose()

    def _ended(self, why: str, reason: str) -> Unavailable:
        return Unavailable(
            f"{why}: {RESUME_HINT}",
            reason=reason,
            metadata={"resume": RESUME_HINT},
            retry_after_s=jittered(self.retry_after_s),
        )
