"""A TCP proxy on loopback that injects network faults between a client and its upstream.

Put it in front of anything whose client speaks first (gRPC, PostgreSQL), or
with ``server_speaks_first=True`` in front of NATS, and switch faults while
the test runs::

    async with FaultProxy(server_address) as proxy:
        channel = connect(proxy.address)
        proxy.latency_s = 0.5         # every chunk, both ways, arrives 0.5 s late
        proxy.drop_connections()      # reset what is open; new connections work
        proxy.cut()                   # the upstream is gone: reset and refuse
        proxy.restore()
        proxy.blackhole = True        # accept and swallow: a peer that hangs
        proxy.lose_responses(1)       # gRPC only: the next request arrives, its answer is lost

``lose_responses`` understands just enough HTTP/2 (frame headers) to reset
the connection when the upstream starts answering a call: the work is done,
the caller never learns it, which is what retried mutations must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_HEADER = 9
_DATA, _HEADERS = 0x0, 0x1
_CHUNK = 65536


class FaultProxy:
    """One listening port on loopback, forwarding to ``upstream`` ("host:port")."""

    def __init__(
        self, upstream: str, *, host: str = "127.0.0.1", server_speaks_first: bool = False
    ) -> None:
        upstream_host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (upstream_host.strip("[]"), int(upstream_port))
        self._host = host
        # NATS greets first: connect upstream at once instead of waiting for the client.
        self._server_speaks_first = server_speaks_first
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._open: set[asyncio.StreamWriter] = set()
        self.latency_s = 0.0
        self.blackhole = False
        self.responses_to_lose = 0
        self.refusing = False
        self.connections_total = 0
        self.responses_lost = 0
        self.address = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, self._host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"{self._host}:{port}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        """Reset every open connection (both sides see a connection reset)."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def cut(self) -> None:
        """The upstream becomes unreachable: open connections reset, new ones refused."""
        self.refusing = True
        self.drop_connections()

    def restore(self) -> None:
        self.refusing = False

    def lose_responses(self, count: int) -> None:
        """Reset the connection at the start of each of the next ``count`` gRPC responses."""
        self.responses_to_lose = count

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            return
        self.connections_total += 1
        self._open.add(writer)
        first = b""
        if not self._server_speaks_first:
            first = await reader.read(_CHUNK)  # the client speaks first in gRPC and PostgreSQL
            if not first or self.refusing:
                return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            return  # the real upstream is down: the client sees its connection reset
        self._open.add(upstream_writer)
        try:
            if first and not self.blackhole:
                upstream_writer.write(first)
            pumps = [
                asyncio.create_task(self._pump(reader, upstream_writer)),
                asyncio.create_task(
                    self._pump_frames(upstream_reader, writer)
                    if first.startswith(HTTP2_PREFACE)
                    else self._pump(upstream_reader, writer)
                ),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._open.discard(upstream_writer)
            self._open.discard(writer)
            upstream_writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK):
            await self._forward(data, writer)

    async def _pump_frames(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Forward HTTP/2 frames one by one, so a response can be cut at its first frame."""
        buffer = b""
        while data := await reader.read(_CHUNK):
            buffer += data
            while len(buffer) >= _FRAME_HEADER:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < _FRAME_HEADER + length:
                    break
                frame, buffer = buffer[: _FRAME_HEADER + length], buffer[_FRAME_HEADER + length :]
                stream_id = int.from_bytes(frame[5:9], "big") & 0x7FFFFFFF
                if self.responses_to_lose and stream_id and frame[3] in (_DATA, _HEADERS):
                    self.responses_to_lose -= 1
                    self.responses_lost += 1
                    return  # the caller's connection resets before any of the answer
                await self._forward(frame, writer)

    async def _forward(self, data: bytes, writer: asyncio.StreamWriter) -> None:
        if self.blackhole:
            return
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
