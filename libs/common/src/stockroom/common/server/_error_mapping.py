"""Server side of the error model: domain errors out as rich statuses, bugs as bare INTERNAL.

Servicers raise ``StockroomError`` subclasses and nothing else; this
interceptor turns them into their gRPC status with details, once, for every
method. Anything else is a bug: the caller gets INTERNAL with a message that
names only the trace id, and the server logs the exception with its stack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import grpc
from opentelemetry import trace

from stockroom.common._interceptors import AroundCallInterceptor, Context
from stockroom.common.errors._errors import Internal, StockroomError
from stockroom.common.errors._status import DETAILS_TRAILER, to_rpc_status

# Named after the package, not this private module: operators filter on it.
logger = logging.getLogger("stockroom.common.server")


class ErrorMappingInterceptor(AroundCallInterceptor):
    """Maps exceptions escaping a servicer to gRPC statuses (outermost interceptor)."""

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        try:
            yield
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise  # the servicer already chose a status, or the caller went away
        except Exception as error:
            await abort_with(context, chosen_error(method, error))


def chosen_error(method: str, error: Exception) -> StockroomError:
    """The error the caller gets for ``error`` escaping ``method``; logs the ones that are bugs.

    ``GrpcServer``'s composed stack (``server._stack``) calls this and ``abort_with``.
    """
    if isinstance(error, StockroomError):
        if error.code == "INTERNAL":
            logger.error("internal error", extra={"method": method}, exc_info=error)
        return error
    logger.error("unexpected error", extra={"method": method}, exc_info=error)
    return _opaque_internal()


async def abort_with(context: Context, error: StockroomError) -> NoReturn:
    """End the call with ``error``'s status, keeping the trailers the servicer already set
    (``abort`` would replace them with the details trailer alone)."""
    status = to_rpc_status(error)
    kept = tuple(
        (key, value) for key, value in context.trailing_metadata() or () if key != DETAILS_TRAILER
    )
    await context.abort(status.code, status.details, (*kept, *status.trailing_metadata))
    raise AssertionError("context.abort returned")  # it always raises AbortError


def _opaque_internal() -> Internal:
    """An INTERNAL error that tells the caller how to find the log, and nothing else."""
    span_context = trace.get_current_span().get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else ""
    message = "internal error" + (f" (trace_id {trace_id})" if trace_id else "")
    return Internal(message, reason="INTERNAL", metadata={"trace_id": trace_id} if trace_id else {})
