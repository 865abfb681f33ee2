"""A loopback TCP proxy in front of PostgreSQL that counts round trips.

In the PostgreSQL protocol a client waits for the server only after a Sync
(extended protocol: Parse/Bind/Execute ... Sync) or a simple Query, each
answered by one ReadyForQuery. So counting those two client messages counts
round trips exactly, whatever the driver batches in between; Parse messages
are counted too (a prepared-statement cache miss).

The proxy answers the client's SSLRequest with "no" itself, so the stream it
reads stays plain text; everything else is forwarded untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

_SSL_REQUEST_CODE = 80877103
_GSSENC_REQUEST_CODE = 80877104
_CHUNK = 65536


class RoundTripCounter:
    """Counts client messages by type on every connection through the proxy."""

    def __init__(self) -> None:
        self.messages: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def round_trips(self) -> int:
        with self._lock:
            return self.messages["S"] + self.messages["Q"]

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.messages)

    def add(self, kind: str) -> None:
        with self._lock:
            self.messages[kind] += 1


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    return await reader.readexactly(size)


async def _client_to_server(
    reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    upstream: asyncio.StreamWriter,
    counter: RoundTripCounter,
) -> None:
    # Untyped startup messages first (SSLRequest / GSSENCRequest / StartupMessage).
    while True:
        header = await _read_exactly(reader, 8)
        length = int.from_bytes(header[:4], "big")
        code = int.from_bytes(header[4:8], "big")
        body = await _read_exactly(reader, length - 8)
        if code in (_SSL_REQUEST_CODE, _GSSENC_REQUEST_CODE):
            client.write(b"N")
            await client.drain()
            continue
        upstream.write(header + body)
        await upstream.drain()
        break
    while True:
        header = await _read_exactly(reader, 5)
        kind = chr(header[0])
        body = await _read_exactly(reader, int.from_bytes(header[1:5], "big") - 4)
        counter.add(kind)
        upstream.write(header + body)
        await upstream.drain()


async def _server_to_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()


class CountingProxy:
    """Runs in its own thread and event loop, so blocking code can use it."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.counter = RoundTripCounter()
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        pumps = [
            asyncio.ensure_future(_client_to_server(reader, writer, upstream_writer, self.counter)),
            asyncio.ensure_future(_server_to_client(upstream_reader, writer)),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        writer.close()
        upstream_writer.close()

    async def _start(self) -> int:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(server.sockets[0].getsockname()[1])

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        try:
            yield self.port
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
