"""The rules every service applies to the identifiers and limits they share.

Declared once, imported by each service's request validation, so that a value
one service accepts is never refused by another: pricing stores prices only
for SKUs inventory can hold, and quotes only carts inventory can check in one
call (``tests/contract`` proves it). Also how a datetime goes on the wire
(``set_timestamp``), so that every answer writes times alike. Plain Python and
protobuf: no grpc, no database.
"""

from stockroom.common.contract._ids import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    check_id,
    check_request_id,
    is_valid_id,
    is_valid_request_id,
)
from stockroom.common.contract._limits import (
    MAX_AVAILABILITY_CHECKS,
    MAX_AVAILABILITY_LINES,
    MAX_BATCH_AVAILABILITY_LINES,
    MAX_QUANTITY,
    MAX_RESERVATION_LINES,
    check_line_count,
    check_quantity,
)
from stockroom.common.contract._timestamps import set_timestamp

__all__ = [
    "ID_PATTERN",
    "MAX_AVAILABILITY_CHECKS",
    "MAX_AVAILABILITY_LINES",
    "MAX_BATCH_AVAILABILITY_LINES",
    "MAX_ID_LENGTH",
    "MAX_QUANTITY",
    "MAX_RESERVATION_LINES",
    "check_id",
    "check_line_count",
    "check_quantity",
    "check_request_id",
    "is_valid_id",
    "is_valid_request_id",
    "set_timestamp",
]
