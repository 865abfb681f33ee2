"""The options every service command shares, and one way to make a call with them.

Target, timeout, TLS/mTLS, request id and output format are the same flags with the same
environment variables in every group: ``--target`` (``INVENTORY_TARGET`` /
``PRICING_TARGET``), ``--timeout`` (``STOCKROOM_TIMEOUT``), ``--tls-ca``/``--tls-cert``/
``--tls-key`` (``STOCKROOM_TLS_CA``/``_CERT``/``_KEY``), ``--request-id``
(``STOCKROOM_REQUEST_ID``, mutations only), ``-o/--output`` (``STOCKROOM_OUTPUT``).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import grpc

from stockroom.cli.failures import EXIT_DENIED, Failure, from_rpc_error, from_service_error
from stockroom.cli.output import FORMATS, Printer
from stockroom.common.client import CHANNEL_OPTIONS, Policy, channel_credentials, connect
from stockroom.common.errors import StockroomError

DEFAULT_TARGETS = {"inventory": "127.0.0.1:50051", "pricing": "127.0.0.1:50052"}
T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """Where and how to call one service, from the shared options."""

    service: str
    target: str
    timeout_s: float
    tls_ca: str
    tls_cert: str
    tls_key: str
    output: str
    request_id: str = ""

    @property
    def printer(self) -> Printer:
        return Printer(self.output)

    def new_request_id(self) -> str:
        """The caller's id (to retry a mutation safely), else a fresh one."""
        return self.request_id or str(uuid.uuid4())

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.tls_ca or self.tls_cert):
            return None
        if bool(self.tls_cert) != bool(self.tls_key):
            raise Failure("--tls-cert and --tls-key go together (mTLS)", EXIT_DENIED)
        try:
            return channel_credentials(self.tls_ca, self.tls_cert or None, self.tls_key or None)
        except OSError as error:
            raise Failure(
                f"cannot read a TLS file: {error}",
                EXIT_DENIED,
                hint="check --tls-ca/--tls-cert/--tls-key",
            ) from None

    def run(self, work: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
        """Open a channel with the client library's policy (deadline, retries when safe,
        breaker) and run ``work`` on it; failures become ``Failure``."""

        async def main() -> T:
            channel = connect(
                self.target, Policy(timeout_s=self.timeout_s), credentials=self.credentials()
            )
            async with channel:
                return await work(channel)

        return self.guard(main)

    def stream_channel(self) -> grpc.aio.Channel:
        """A channel without the call policy's deadline: streams run until stopped."""
        credentials = self.credentials()
        if credentials is None:
            return grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        return grpc.aio.secure_channel(self.target, credentials, options=CHANNEL_OPTIONS)

    def guard(self, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
        try:
            return asyncio.run(main())
        except StockroomError as error:
            raise from_service_error(error, self.service, self.target) from None
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, self.service, self.target) from None


def call_options(service: str, *, mutation: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Add the shared options to a command; it receives them as ``call: Call``."""

    def decorate(command: Callable[..., Any]) -> Any:
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            call = Call(
                service=service,
                target=kwargs.pop("target"),
                timeout_s=kwargs.pop("timeout"),
                tls_ca=kwargs.pop("tls_ca"),
                tls_cert=kwargs.pop("tls_cert"),
                tls_key=kwargs.pop("tls_key"),
                output=kwargs.pop("output"),
                request_id=kwargs.pop("request_id", ""),
            )
            return command(call, **kwargs)

        options = [
            click.option(
                "--target",
                envvar=f"{service.upper()}_TARGET",
                default=DEFAULT_TARGETS[service],
                show_default=True,
                help=f"host:port of {service} (env {service.upper()}_TARGET)",
            ),
            click.option(
                "--timeout",
                envvar="STOCKROOM_TIMEOUT",
                type=click.FloatRange(min=0.001),
                default=10.0,
                show_default=True,
                help="seconds per call (env STOCKROOM_TIMEOUT)",
            ),
            click.option(
                "--tls-ca",
                envvar="STOCKROOM_TLS_CA",
                default="",
                help="CA file: call over TLS (env STOCKROOM_TLS_CA)",
            ),
            click.option(
                "--tls-cert",
                envvar="STOCKROOM_TLS_CERT",
                default="",
                help="client certificate for mTLS (env STOCKROOM_TLS_CERT)",
            ),
            click.option(
                "--tls-key",
                envvar="STOCKROOM_TLS_KEY",
                default="",
                help="client key for mTLS (env STOCKROOM_TLS_KEY)",
            ),
            click.option(
                "-o",
                "--output",
                envvar="STOCKROOM_OUTPUT",
                type=click.Choice(FORMATS),
                default="table",
                show_default=True,
                help="table, json or yaml (env STOCKROOM_OUTPUT)",
            ),
        ]
        if mutation:
            options.append(
                click.option(
                    "--request-id",
                    envvar="STOCKROOM_REQUEST_ID",
                    default="",
                    help="a UUID: the same one retries safely (env STOCKROOM_REQUEST_ID)",
                )
            )
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate
