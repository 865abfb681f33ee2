"""Datetimes go on the wire as protobuf itself would put them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from stockroom.common.contract import set_timestamp
from stockroom.events.v1.envelope_pb2 import Envelope


@given(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-9, minutes=-30))]),
    )
)
def test_a_timestamp_is_what_protobuf_makes_of_the_datetime(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    written = timestamp_pb2.Timestamp()

    set_timestamp(written, moment)

    assert written == expected


def test_a_timestamp_written_into_a_message_is_set_even_at_the_epoch() -> None:
    envelope = Envelope()

    set_timestamp(envelope.time, datetime(1970, 1, 1, tzinfo=UTC))

    assert envelope.HasField("time")
    assert envelope.time == timestamp_pb2.Timestamp()
