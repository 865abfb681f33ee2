"""Failures of a layer below the servicer (a database, a pool) turned into what they mean.

The error mapping answers INTERNAL, with a traceback in the log, for anything
that is not a ``StockroomError``: right for bugs, wrong for a database that is
down, which is no bug and deserves UNAVAILABLE with RetryInfo. A package that
knows such failures (``stockroom.common.db``) registers a translator once at
import; the error mapping asks every translator before calling an exception a bug.
"""

from __future__ import annotations

from collections.abc import Callable

from stockroom.common.errors._errors import StockroomError

Translator = Callable[[BaseException], StockroomError | None]
_translators: list[Translator] = []


def register_translator(translator: Translator) -> None:
    if translator not in _translators:
        _translators.append(translator)


def translate(error: BaseException) -> StockroomError | None:
    """The ``StockroomError`` a registered translator makes of ``error``, or None (a bug)."""
    for translator in _translators:
        translated = translator(error)
        if translated is not None:
            return translated
    return None
