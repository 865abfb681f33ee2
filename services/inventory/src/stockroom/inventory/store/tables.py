"""The inventory schema (SQLAlchemy Core). Alembic migrations create it; this is
what the store's queries are written against (a test checks the two agree)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    text,
)

from stockroom.common.db import UtcDateTime, request_records_table
from stockroom.common.events import outbox_table

ID = 64  # SKUs, location ids
UUID = 36  # reservation and request ids
TEXT = 256  # reasons, references, names


metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("sku", String(ID), primary_key=True),
    Column("display_name", String(TEXT), nullable=False),
    Column("create_time", UtcDateTime(), nullable=False),
    # ACTIVE or INACTIVE (domain.model.ItemState): inactive SKUs take no new reservation.
    Column("state", String(16), nullable=False, server_default="ACTIVE"),
    Column("deactivation_reason", String(TEXT), nullable=False, server_default=""),
    # When the name or state last changed (NULL: never since it was created).
    Column("update_time", UtcDateTime(), nullable=True),
)

locations = Table(
    "locations",
    metadata,
    Column("location_id", String(ID), primary_key=True),
    Column("display_name", String(TEXT), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("create_time", UtcDateTime(), nullable=False),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(ID), ForeignKey("items.sku"), primary_key=True),
    Column("location_id", String(ID), ForeignKey("locations.location_id"), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("safety_stock", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    # Unsellable states: counted apart from on_hand (sellable), never available.
    Column("damaged", BigInteger, nullable=False, server_default=text("0")),
    Column("quality_control", BigInteger, nullable=False, server_default=text("0")),
    Column("reorder_point", BigInteger, nullable=False, server_default=text("0")),
    # Units backorders wait for here; units open expected receipts still bring here.
    Column("backordered", BigInteger, nullable=False, server_default="0"),
    Column("incoming", BigInteger, nullable=False, server_default="0"),
    # The last line of defence of "never oversell, never negative".
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
    CheckConstraint(
        "damaged >= 0 AND quality_control >= 0 AND reorder_point >= 0",
        name="states_not_negative",
    ),
    CheckConstraint("backordered >= 0", name="backordered_not_negative"),
    CheckConstraint("incoming >= 0", name="incoming_not_negative"),
)

# The ledger. On PostgreSQL an entry's sequence is (the writing transaction's
# id << 20) + its index in that transaction: no row or sequence object that
# every writer takes in turn. Transaction ids are handed out when a
# transaction starts, not when it commits, so readers only read entries below
# the oldest transaction still running (``ledger.HORIZON``): every entry there
# is final, and every entry that commits later has a larger sequence than all
# of them. On SQLite writers take the database's write lock in turn, and an
# entry's sequence is the last one + 1 (dense and in commit order).
movements = Table(
    "movements",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("sku", String(ID), nullable=False),
    Column("location_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("on_hand_delta", BigInteger, nullable=False),
    Column("reserved_delta", BigInteger, nullable=False),
    # The level right after this entry.
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("safety_stock", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("reason", String(TEXT), nullable=False),
    Column("reference", String(TEXT), nullable=False),
    Column("reservation_id", String(UUID), nullable=True),
    Column("request_id", String(UUID), nullable=True),
    Column("create_time", UtcDateTime(), nullable=False),
    Column("damaged_delta", BigInteger, nullable=False, server_default=text("0")),
    Column("quality_control_delta", BigInteger, nullable=False, server_default=text("0")),
    # The level right after this entry (continued).
    Column("damaged", BigInteger, nullable=False, server_default=text("0")),
    Column("quality_control", BigInteger, nullable=False, server_default=text("0")),
    Column("reorder_point", BigInteger, nullable=False, server_default=text("0")),
    Column("backordered_delta", BigInteger, nullable=False, server_default="0"),
    Column("incoming_delta", BigInteger, nullable=False, server_default="0"),
    Column("backordered", BigInteger, nullable=False, server_default="0"),
    Column("incoming", BigInteger, nullable=False, server_default="0"),
    Column("expected_receipt_id", String(ID), nullable=True),
    ForeignKeyConstraint(["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]),
    Index("movements_by_sku", "sku", "sequence"),
    Index("movements_by_location", "location_id", "sequence"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", String(UUID), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reference", String(TEXT), nullable=False),
    Column("create_time", UtcDateTime(), nullable=False),
    Column("expire_time", UtcDateTime(), nullable=False),
    Column("update_time", UtcDateTime(), nullable=False),
    # Counts changes (state, expiry, settled units): a batch writes only if it is unchanged.
    Column("version", BigInteger, nullable=False, server_default="0"),
    # What the sweeper scans: only active reservations, soonest expiry first.
    Index(
        "active_reservations_by_expiry",
        "expire_time",
        postgresql_where=text("state = 'ACTIVE'"),
        sqlite_where=text("state = 'ACTIVE'"),
    ),
    # ListReservations by reference, oldest first.
    Index("reservations_by_reference", "reference", "create_time", "reservation_id"),
    # What the retention sweeper prunes: settled reservations, longest settled first.
    Index(
        "settled_reservations_by_update",
        "update_time",
        postgresql_where=text("state <> 'ACTIVE'"),
        sqlite_where=text("state <> 'ACTIVE'"),
    ),
)

# Units a reservation holds at one level, for one of its lines (a kit line holds units of
# its components, so one SKU may appear on several lines of a reservation).
reservation_allocations = Table(
    "reservation_allocations",
    metadata,
    Column(
        "reservation_id",
        String(UUID),
        ForeignKey("reservations.reservation_id"),
        primary_key=True,
    ),
    Column("line_number", Integer, primary_key=True),
    Column("sku", String(ID), primary_key=True),
    Column("location_id", String(ID), primary_key=True),
    # Units reserved here; of them, confirmed + released + expired are settled, the rest held.
    Column("quantity", BigInteger, nullable=False),
    Column("confirmed", BigInteger, nullable=False, server_default="0"),
    Column("released", BigInteger, nullable=False, server_default="0"),
    Column("expired", BigInteger, nullable=False, server_default="0"),
    ForeignKeyConstraint(["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]),
    CheckConstraint("quantity > 0", name="allocation_positive"),
    # Never more settled than reserved: the last line of defence of partial settlements.
    CheckConstraint(
        "confirmed >= 0 AND released >= 0 AND expired >= 0"
        " AND confirmed + released + expired <= quantity",
        name="allocation_settled_within_quantity",
    ),
)

# The kit lines of reservations: the kit and how many (their units are the allocations of
# the same line number, of the kit's components).
reservation_kit_lines = Table(
    "reservation_kit_lines",
    metadata,
    Column(
        "reservation_id",
        String(UUID),
        ForeignKey("reservations.reservation_id"),
        primary_key=True,
    ),
    Column("line_number", Integer, primary_key=True),
    Column("kit_sku", String(ID), ForeignKey("items.sku"), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="kit_line_positive"),
)

# What each kit is made of (its direct components: items or other kits). An item is a
# kit exactly when it has rows here, from its creation on.
kit_components = Table(
    "kit_components",
    metadata,
    Column("kit_sku", String(ID), ForeignKey("items.sku"), primary_key=True),
    Column("component_sku", String(ID), ForeignKey("items.sku"), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="kit_component_positive"),
    CheckConstraint("component_sku <> kit_sku", name="kit_not_its_own_component"),
)

# What a SKU does with demand beyond what is on hand, at one location or (location_id
# '') at every location without its own (domain.supply). ``backordered`` counts the
# units outstanding under the policy; the database keeps it within the limit.
inventory_policies = Table(
    "inventory_policies",
    metadata,
    Column("sku", String(ID), ForeignKey("items.sku"), primary_key=True),
    Column("location_id", String(ID), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("backorder_limit", BigInteger, nullable=True),
    Column("preorder_until", UtcDateTime(), nullable=True),
    Column("backordered", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("update_time", UtcDateTime(), nullable=False),
    CheckConstraint("mode IN ('REFUSE', 'BACKORDER', 'PREORDER')", name="policy_mode_known"),
    CheckConstraint(
        "mode <> 'BACKORDER' OR backorder_limit IS NOT NULL", name="backorder_has_limit"
    ),
    CheckConstraint("mode <> 'PREORDER' OR preorder_until IS NOT NULL", name="preorder_has_date"),
    CheckConstraint(
        "backordered >= 0 AND (backorder_limit IS NULL OR backordered <= backorder_limit)",
        name="backordered_within_limit",
    ),
)

# Units of a reservation line waiting for stock at one location; filled units move to
# its allocation there. Waiting ones are served in queue_position order per level.
reservation_backorders = Table(
    "reservation_backorders",
    metadata,
    Column(
        "reservation_id",
        String(UUID),
        ForeignKey("reservations.reservation_id"),
        primary_key=True,
    ),
    Column("sku", String(ID), primary_key=True),
    Column("location_id", String(ID), primary_key=True),
    Column("line_number", Integer, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("filled", BigInteger, nullable=False),
    Column("cancelled", BigInteger, nullable=False),
    Column("preorder", Boolean, nullable=False),
    Column("policy_location", String(ID), nullable=False),
    Column("queue_position", BigInteger, nullable=False),
    ForeignKeyConstraint(["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]),
    CheckConstraint(
        "quantity > 0 AND filled >= 0 AND cancelled >= 0 AND filled + cancelled <= quantity",
        name="backorder_within_quantity",
    ),
    # The queues: what still waits, per level, first come first served.
    Index(
        "backorders_waiting",
        "sku",
        "location_id",
        "queue_position",
        postgresql_where=text("filled + cancelled < quantity"),
        sqlite_where=text("filled + cancelled < quantity"),
    ),
)

# Stock on its way (purchase order or advance shipping notice lines). Its level's
# ``incoming`` is the sum of quantity - received over the open ones.
expected_receipts = Table(
    "expected_receipts",
    metadata,
    Column("expected_receipt_id", String(ID), primary_key=True),
    Column("sku", String(ID), nullable=False),
    Column("location_id", String(ID), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("expected_time", UtcDateTime(), nullable=False),
    Column("reference", String(TEXT), nullable=False),
    Column("create_time", UtcDateTime(), nullable=False),
    Column("update_time", UtcDateTime(), nullable=False),
    ForeignKeyConstraint(["sku", "location_id"], ["stock_levels.sku", "stock_levels.location_id"]),
    CheckConstraint("quantity > 0 AND received >= 0", name="expected_quantities"),
    CheckConstraint(
        "state IN ('OPEN', 'RECEIVED', 'CANCELLED')", name="expected_receipt_state_known"
    ),
    Index("expected_receipts_by_time", "expected_time", "expected_receipt_id"),
    Index(
        "open_expected_receipts",
        "sku",
        "expected_time",
        postgresql_where=text("state = 'OPEN'"),
        sqlite_where=text("state = 'OPEN'"),
    ),
)

request_records = request_records_table(metadata)

# Events waiting for the relay (stockroom.common.events; written only when publishing is on).
outbox = outbox_table(metadata)
