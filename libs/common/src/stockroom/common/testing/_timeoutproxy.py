"""A loopback TCP proxy that reads the ``grpc-timeout`` header of every call passing through.

Tests put it in front of a downstream to check what deadline a service really
sends on the wire: each request's HEADERS are decoded (HPACK, one decoder per
connection, as HTTP/2 requires) and recorded with the moment they arrived.
Everything is forwarded unchanged, both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from hpack import Decoder

_FRAME_HEADER = 9
_HEADERS, _CONTINUATION = 0x1, 0x9
_END_HEADERS, _PADDED, _PRIORITY = 0x4, 0x8, 0x20
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_UNITS_S = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


@dataclass(frozen=True)
class SeenCall:
    """One request as it crossed the proxy."""

    path: str
    timeout_s: float | None  # None: the caller sent no grpc-timeout
    arrived_at: float  # time.monotonic()


def parse_grpc_timeout(value: str) -> float:
    """``"250m"`` -> 0.25 (the gRPC over HTTP/2 spec: up to 8 digits and a unit)."""
    return int(value[:-1]) * _UNITS_S[value[-1]]


class TimeoutRecordingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream`` and records each call's grpc-timeout."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host.strip("[]"), int(port))
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls: list[SeenCall] = []
        self.address = ""

    async def __aenter__(self) -> TimeoutRecordingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            self._tasks.discard(task)
            return
        pumps = [
            asyncio.create_task(self._requests(reader, up_writer)),
            asyncio.create_task(_pump(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is closing: end this connection quietly
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            writer.transport.abort()
            up_writer.transport.abort()
            self._tasks.discard(task)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward the client's bytes, decoding header blocks as they pass."""
        decoder = Decoder()
        buffer = b""
        block = b""
        preface_seen = False
        while data := await reader.read(65536):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            buffer += data
            if not preface_seen:
                if len(buffer) < len(_PREFACE):
                    continue
                buffer, preface_seen = buffer[len(_PREFACE) :], True
            while len(buffer) >= _FRAME_HEADER:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < _FRAME_HEADER + length:
                    break
                kind, flags = buffer[3], buffer[4]
                payload = buffer[_FRAME_HEADER : _FRAME_HEADER + length]
                buffer = buffer[_FRAME_HEADER + length :]
                if kind == _HEADERS:
                    block = _header_fragment(payload, flags)
                elif kind == _CONTINUATION:
                    block += payload
                else:
                    continue
                if flags & _END_HEADERS:
                    self._record({str(k): str(v) for k, v in decoder.decode(block)})
                    block = b""

    def _record(self, headers: dict[str, str]) -> None:
        path = headers.get(":path")
        if path is None:
            return
        timeout = headers.get("grpc-timeout")
        self.calls.append(
            SeenCall(
                path, None if timeout is None else parse_grpc_timeout(timeout), time.monotonic()
            )
        )


def _header_fragment(payload: bytes, flags: int) -> bytes:
    start, end = 0, len(payload)
    if flags & _PADDED:
        start, end = 1, len(payload) - payload[0]
    if flags & _PRIORITY:
        start += 5
    return payload[start:end]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
