"""The pricing schema (SQLAlchemy Core). Alembic migrations create it; this is
what the store's queries are written against.

Amounts are BIGINT minor units, never floats. Price history and quotes are
only ever inserted. A promotion's row is its current version (and its usage
counters); each version is also kept in ``promotion_versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    false,
    text,
)

from stockroom.common.db import UtcDateTime
from stockroom.common.events import outbox_table

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY, so ids are BIGINT elsewhere.
Id = BigInteger().with_variant(Integer, "sqlite")


# Named price lists (domain.price_lists). Status moves forward only, each step
# stamped; the CHECKs and the partial unique index are the last guard of what
# the domain decides: one active OVERRIDE list per scope, times that fit the
# status, a relative list with both its base and its adjustment.
price_lists = Table(
    "price_lists",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("currency_code", String(3), nullable=False),
    # '' means "every channel" / "every customer group".
    Column("channel", String(64), nullable=False, server_default=""),
    Column("customer_group", String(64), nullable=False, server_default=""),
    # ISO 3166-1 alpha-2 or ISO 3166-2 region; '' means every country.
    Column("country", String(6), nullable=False, server_default=""),
    Column("name", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("status", String(8), nullable=False),
    Column("base_list_id", Id, ForeignKey("price_lists.id"), nullable=True),
    Column("adjustment_bp", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("activated_at", UtcDateTime, nullable=True),
    Column("archived_at", UtcDateTime, nullable=True),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    CheckConstraint("kind IN ('OVERRIDE', 'SALE')", name="price_lists_kind"),
    CheckConstraint(
        "(status = 'DRAFT' AND activated_at IS NULL AND archived_at IS NULL)"
        " OR (status = 'ACTIVE' AND activated_at IS NOT NULL AND archived_at IS NULL)"
        " OR (status = 'ARCHIVED' AND archived_at IS NOT NULL)",
        name="price_lists_status_times",
    ),
    CheckConstraint(
        "(base_list_id IS NULL) = (adjustment_bp IS NULL)", name="price_lists_relative_whole"
    ),
    CheckConstraint(
        "adjustment_bp IS NULL OR adjustment_bp BETWEEN -10000 AND 10000",
        name="price_lists_adjustment_range",
    ),
    Index("price_lists_by_currency", "currency_code"),
    Index(
        "price_lists_one_active_override",
        "currency_code",
        "channel",
        "customer_group",
        "country",
        unique=True,
        postgresql_where=text("status = 'ACTIVE' AND kind = 'OVERRIDE'"),
        sqlite_where=text("status = 'ACTIVE' AND kind = 'OVERRIDE'"),
    ),
)

prices = Table(
    "prices",
    metadata,
    # Ascending in recording order: the tie-breaker between versions with one valid_from.
    Column("id", Id, Identity(), primary_key=True),
    Column("price_list_id", Id, ForeignKey("price_lists.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    # NULL for a per-unit price, else VOLUME or GRADUATED.
    Column("tiers_mode", String(16), nullable=True),
    # [{"up_to": int | null, "unit_amount_minor": int, "flat_amount_minor": int}, ...]
    Column("tiers", JSON, nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("tax_inclusive", Boolean, nullable=False, server_default=false()),
    CheckConstraint(
        "valid_until IS NULL OR valid_until > valid_from", name="prices_window_not_empty"
    ),
    Index("prices_by_list_sku_from", "price_list_id", "sku", "valid_from"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("display_name", String(200), nullable=False),
    # '' means "every currency" (percentage promotions without a minimum subtotal).
    Column("currency_code", String(3), nullable=False, server_default=""),
    Column("target", String(8), nullable=False),
    Column("basis_points_off", Integer, nullable=True),
    Column("amount_off_minor", BigInteger, nullable=True),
    Column("minimum_quantity", BigInteger, nullable=False, server_default="0"),
    Column("minimum_subtotal_minor", BigInteger, nullable=True),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    # The lifecycle: the row is the promotion's current version; every version
    # (this one included) is also in promotion_versions.
    Column("status", String(8), nullable=False, server_default="ACTIVE"),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("requires_code", Boolean, nullable=False, server_default=false()),
    # Limits (NULL: none) and what redemptions consumed; the CHECKs are the
    # last guard that no redemption ever goes past a limit.
    Column("max_uses", BigInteger, nullable=True),
    Column("max_uses_per_customer", BigInteger, nullable=True),
    Column("budget_minor", BigInteger, nullable=True),
    Column("budget_per_customer_minor", BigInteger, nullable=True),
    Column("uses", BigInteger, nullable=False, server_default="0"),
    Column("spent_minor", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("status IN ('ACTIVE', 'PAUSED', 'ENDED')", name="promotions_status"),
    CheckConstraint("uses >= 0 AND spent_minor >= 0", name="promotions_usage_not_negative"),
    CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="promotions_within_max_uses"),
    CheckConstraint(
        "budget_minor IS NULL OR spent_minor <= budget_minor", name="promotions_within_budget"
    ),
    CheckConstraint(
        "(basis_points_off IS NULL) <> (amount_off_minor IS NULL)", name="promotions_one_discount"
    ),
    CheckConstraint(
        "basis_points_off IS NULL OR basis_points_off BETWEEN 1 AND 10000",
        name="promotions_basis_points_range",
    ),
    CheckConstraint(
        "amount_off_minor IS NULL OR amount_off_minor > 0", name="promotions_amount_positive"
    ),
    CheckConstraint("target IN ('SKUS', 'CART')", name="promotions_target"),
    CheckConstraint(
        "valid_until IS NULL OR valid_until > valid_from", name="promotions_window_not_empty"
    ),
    Index("promotions_by_window", "valid_from", "valid_until"),
)

promotion_skus = Table(
    "promotion_skus",
    metadata,
    Column("promotion_id", Id, ForeignKey("promotions.id"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Index("promotion_skus_by_sku", "sku"),
)

promotion_versions = Table(
    "promotion_versions",
    metadata,
    Column("promotion_id", Id, ForeignKey("promotions.id"), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    # The promotion's terms and status as of this version.
    Column("document", JSON, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

code_batches = Table(
    "code_batches",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("promotion_id", Id, ForeignKey("promotions.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
)

promotion_codes = Table(
    "promotion_codes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("promotion_id", Id, ForeignKey("promotions.id"), nullable=False),
    Column("batch_id", Id, ForeignKey("code_batches.id"), nullable=False),
    Column("max_uses", BigInteger, nullable=True),
    Column("uses", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("uses >= 0", name="promotion_codes_uses_not_negative"),
    CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="promotion_codes_within_max_uses"),
    Index("promotion_codes_by_batch", "batch_id"),
)

customer_usage = Table(
    "customer_usage",
    metadata,
    Column("promotion_id", Id, ForeignKey("promotions.id"), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("uses", BigInteger, nullable=False),
    Column("spent_minor", BigInteger, nullable=False),
    CheckConstraint("uses >= 0 AND spent_minor >= 0", name="customer_usage_not_negative"),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("id", Id, Identity(), primary_key=True),
    Column("quote_id", String(36), nullable=False, unique=True),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("state", String(8), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("released_at", UtcDateTime, nullable=True),
    CheckConstraint("state IN ('REDEEMED', 'RELEASED')", name="redemptions_state"),
)

redemption_items = Table(
    "redemption_items",
    metadata,
    Column("redemption_id", Id, ForeignKey("redemptions.id"), primary_key=True),
    Column("promotion_id", Id, ForeignKey("promotions.id"), primary_key=True),
    Column("code", String(32), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    CheckConstraint("amount_minor >= 0", name="redemption_items_not_negative"),
)

quotes = Table(
    "quotes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("currency_code", String(3), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("customer_group", String(64), nullable=False),
    Column("price_time", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expire_at", UtcDateTime, nullable=False),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    # Empty when inventory answered; else why availability is UNKNOWN.
    Column("availability_reason", String(64), nullable=False),
    # The priced lines, discounts and stock answer as the quote gave them: an
    # immutable snapshot, read back whole by GetQuote.
    Column("document", JSON, nullable=False),
    # The tax view of total: net + tax = gross; amount_due is gross after cash rounding.
    Column("customer_id", String(64), nullable=False, server_default=""),
    Column("net_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("gross_minor", BigInteger, nullable=False),
    Column("amount_due_minor", BigInteger, nullable=False),
    CheckConstraint("gross_minor = net_minor + tax_minor", name="quotes_gross_is_net_plus_tax"),
    CheckConstraint("discount_minor >= 0 AND total_minor >= 0", name="quotes_not_negative"),
    CheckConstraint(
        "total_minor = subtotal_minor - discount_minor",
        name="quotes_total_is_subtotal_less_discount",
    ),
)


# Every change to a price, a promotion or a price list is an event in the outbox
# (stockroom.common.events), written in the change's own transaction: the relay
# publishes it when PRICING_EVENTS_ENABLED, and every replica's cache reads it
# to refresh. Writers lock the one row of ``change_head`` before appending (held
# to commit), so outbox positions follow commit order: a reader that has
# everything up to N and reads "after N" misses nothing. Positions are never
# reused (AUTOINCREMENT on SQLite), so pruning cannot hand one out again.
change_head = Table(
    "change_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="change_head_one_row"),
)

# Named for pricing: two services may share one PostgreSQL database (inventory's is "outbox").
outbox = outbox_table(metadata, "pricing_outbox", never_reuse_positions=True)
