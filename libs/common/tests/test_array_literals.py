"""Array literals (``stockroom.common.db.int_array``, ``text_array``): PostgreSQL reads back
exactly the values that went in, whatever characters the strings hold."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from stockroom.common.db import create_engine, int_array, text_array

# Every character the array syntax treats specially, and words it might.
TRICKY = [
    "",
    " ",
    " padded ",
    "NULL",
    "null",
    '"',
    '""',
    "\\",
    "\\\\",
    '\\"',
    "{",
    "}",
    "{}",
    "{a,b}",
    ",",
    "a,b",
    "tab\there",
    "new\nline",
    "'single'",
    "ünïcødé ✓",
    "emoji 📦",
]
ALPHABET = ['"', "\\", "{", "}", ",", " ", "\t", "\n", "'", "a", "Z", "0", "N", "é", "📦"]


def random_lists(count: int, seed: int = 20261201) -> list[list[str | None]]:
    """Lists of random strings over the special characters, some with NULLs."""
    chosen = random.Random(seed)
    lists: list[list[str | None]] = []
    for _ in range(count):
        size = chosen.randrange(0, 8)
        values: list[str | None] = [
            "".join(chosen.choice(ALPHABET) for _ in range(chosen.randrange(0, 6)))
            for _ in range(size)
        ]
        if values and chosen.random() < 0.3:
            values[chosen.randrange(size)] = None
        lists.append(values)
    return lists


@pytest.fixture
async def connection(postgres_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(postgres_url)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


async def read_back(connection: AsyncConnection, literal: str, array_type: str) -> object:
    result = await connection.execute(
        text(f"SELECT CAST(CAST(:literal AS text) AS {array_type})"), {"literal": literal}
    )
    return result.scalar_one()


def test_literals_have_the_documented_shape() -> None:
    assert int_array([]) == "{}"
    assert int_array([3, -1, 0]) == "{3,-1,0}"
    assert text_array([]) == "{}"
    assert text_array(["a", "b c"]) == '{"a","b c"}'
    assert text_array(["a", None]) == '{"a",NULL}'
    assert text_array(['say "hi"', "C:\\"]) == '{"say \\"hi\\"","C:\\\\"}'


@pytest.mark.postgres
async def test_tricky_strings_come_back_as_they_went(connection: AsyncConnection) -> None:
    for values in ([s] for s in TRICKY):
        assert await read_back(connection, text_array(values), "text[]") == values
    assert await read_back(connection, text_array(TRICKY), "text[]") == TRICKY
    with_nulls: list[str | None] = [None, *TRICKY, None]
    assert await read_back(connection, text_array(with_nulls), "text[]") == with_nulls
    assert await read_back(connection, text_array([None, None]), "text[]") == [None, None]


@pytest.mark.postgres
async def test_random_strings_come_back_as_they_went(connection: AsyncConnection) -> None:
    lists = random_lists(300)
    assert any(None in values for values in lists)
    assert any(any(v and '"' in v for v in values) for values in lists)
    for values in lists:
        assert await read_back(connection, text_array(values), "text[]") == values


@pytest.mark.postgres
@pytest.mark.parametrize("array_type", ["bigint[]", "int[]"])
async def test_numbers_come_back_as_they_went(connection: AsyncConnection, array_type: str) -> None:
    numbers: Sequence[int] = [0, 1, -1, 2_147_483_647, -2_147_483_648]
    if array_type == "bigint[]":
        numbers = [*numbers, 9_223_372_036_854_775_807, -9_223_372_036_854_775_808]
    assert await read_back(connection, int_array(numbers), array_type) == list(numbers)
    assert await read_back(connection, int_array([]), array_type) == []


@pytest.mark.postgres
@pytest.mark.parametrize("value", [True, 1.5])
async def test_anything_but_an_integer_is_refused(
    connection: AsyncConnection, value: object
) -> None:
    with pytest.raises(DBAPIError, match="invalid input syntax"):
        await read_back(connection, int_array([1, value]), "bigint[]")  # type: ignore[list-item]
