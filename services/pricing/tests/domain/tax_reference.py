"""An independent implementation of the tax and cash-rounding rules with Decimal, to check
pricing's integer arithmetic and the shipped golden vectors against.

Written from the README's rules, not from ``domain/tax.py``: Decimal division at 60
digits, ``quantize`` for rounding, and a separately written largest-remainder split.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

MODES = {"HALF_EVEN": ROUND_HALF_EVEN, "HALF_UP": ROUND_HALF_UP}


def _round(value: Decimal, mode: str) -> int:
    return int(value.quantize(Decimal(1), rounding=MODES[mode]))


def _split(amount: int, weights: Sequence[int]) -> list[int]:
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    exact = [Decimal(amount) * w / total for w in weights]
    floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: amount - sum(floors)]:
        floors[i] += 1
    return floors


def reference(
    amount_minor: int,
    inclusive: bool,
    rates_percent: Sequence[str],
    mode: str,
    cash_increment_minor: int,
) -> dict[str, object]:
    with localcontext() as context:
        context.prec = 60
        rates = [Decimal(r) / 100 for r in rates_percent]
        if not inclusive:
            taxes = [_round(Decimal(amount_minor) * r, mode) for r in rates]
            net, gross = amount_minor, amount_minor + sum(taxes)
        else:
            net = _round(Decimal(amount_minor) / (1 + sum(rates, Decimal(0))), mode)
            gross = amount_minor
            taxes = _split(gross - net, [int(r * 1_000_000) for r in rates])
        due = _round(Decimal(gross) / cash_increment_minor, mode) * cash_increment_minor
    return {
        "net_minor": net,
        "tax_minor": gross - net,
        "gross_minor": gross,
        "taxes_minor": taxes,
        "amount_due_minor": due,
    }
