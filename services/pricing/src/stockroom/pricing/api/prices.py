"""Price messages to domain values and back."""

from __future__ import annotations

from stockroom.pricing.api.wire import amount_minor, moment, to_money, to_timestamp
from stockroom.pricing.domain.prices import NewPrice, PriceListScope, PriceVersion
from stockroom.pricing.domain.tiers import PriceSchedule, Tier, TiersMode
from stockroom.pricing.domain.validation import new_problems, raise_if_any
from stockroom.pricing.v1 import pricing_pb2 as pb

MODE_FROM_PROTO: dict[pb.TiersMode.ValueType, TiersMode | None] = {
    pb.TIERS_MODE_UNSPECIFIED: None,
    pb.TIERS_MODE_VOLUME: TiersMode.VOLUME,
    pb.TIERS_MODE_GRADUATED: TiersMode.GRADUATED,
}
MODE_TO_PROTO = {mode: number for number, mode in MODE_FROM_PROTO.items()}


def new_price(request: pb.SetPriceRequest) -> NewPrice:
    """The price a SetPrice asks to record; INVALID_ARGUMENT for a malformed amount."""
    problems = new_problems()
    per_unit = request.HasField("unit_price")
    if per_unit == bool(request.tiers):
        problems.add("unit_price", "set exactly one of unit_price and tiers", "PRICE_REQUIRED")
    currency_code = ""
    tiers: list[Tier] = []
    if per_unit and not request.tiers:
        currency_code = request.unit_price.currency_code
        if request.tiers_mode:
            problems.add("tiers_mode", "goes with tiers, not with unit_price", "NOT_ALLOWED")
        unit = amount_minor(problems, "unit_price", request.unit_price)
        tiers = [Tier(None, unit or 0)]
    elif request.tiers:
        currency_code = request.tiers[0].unit_amount.currency_code
        for i, tier in enumerate(request.tiers):
            field = f"tiers[{i}]"
            if not tier.HasField("unit_amount"):
                problems.add(f"{field}.unit_amount", "is required", "REQUIRED")
            unit = amount_minor(
                problems, f"{field}.unit_amount", tier.unit_amount, currency_code=currency_code
            )
            flat = 0
            if tier.HasField("flat_amount"):
                flat = (
                    amount_minor(
                        problems,
                        f"{field}.flat_amount",
                        tier.flat_amount,
                        currency_code=currency_code,
                    )
                    or 0
                )
            if tier.up_to < 0:
                problems.add(f"{field}.up_to", "must not be negative", "NEGATIVE")
            tiers.append(Tier(tier.up_to or None, unit or 0, flat))
    valid_from = moment(problems, "valid_from", request.valid_from, request.HasField("valid_from"))
    valid_until = moment(
        problems, "valid_until", request.valid_until, request.HasField("valid_until")
    )
    if request.tiers_mode not in MODE_FROM_PROTO:
        problems.add("tiers_mode", "is not a TiersMode", "UNKNOWN_ENUM_VALUE")
    raise_if_any(problems)
    return NewPrice(
        sku=request.sku,
        scope=PriceListScope(
            currency_code, request.channel, request.customer_group, request.country
        ),
        schedule=PriceSchedule(tuple(tiers), MODE_FROM_PROTO[request.tiers_mode]),
        valid_from=valid_from,
        valid_until=valid_until,
        tax_inclusive=request.tax_inclusive,
        list_id=request.price_list_id,
    )


def price_message(version: PriceVersion) -> pb.Price:
    currency_code = version.scope.currency_code
    schedule = version.schedule
    message = pb.Price(
        price_id=version.price_id,
        sku=version.sku,
        currency_code=currency_code,
        channel=version.scope.channel,
        customer_group=version.scope.customer_group,
        country=version.scope.country,
        tiers=[tier_message(tier, currency_code) for tier in schedule.tiers],
        tiers_mode=MODE_TO_PROTO[schedule.mode],
        valid_from=to_timestamp(version.valid_from),
        record_time=to_timestamp(version.recorded_at),
        tax_inclusive=version.tax_inclusive,
        price_list_id=version.list_id,
    )
    if version.valid_until is not None:
        message.valid_until.CopyFrom(to_timestamp(version.valid_until))
    if schedule.unit_amount_minor is not None:
        message.unit_price.CopyFrom(to_money(schedule.unit_amount_minor, currency_code))
    return message


def tier_message(tier: Tier, currency_code: str) -> pb.PriceTier:
    return pb.PriceTier(
        up_to=tier.up_to or 0,
        unit_amount=to_money(tier.unit_amount_minor, currency_code),
        flat_amount=to_money(tier.flat_amount_minor, currency_code),
    )
