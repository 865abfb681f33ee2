"""Kits: items made of other items. What a kit needs of each stocked item, how many
whole kits the stock can make, and which definitions are allowed.

A kit holds no stock of its own. Its components may be stocked items or other
kits; every rule works on the kit *flattened* to the stocked items it finally
takes (``flatten``), so a component shared by two sub-kits is counted once per
use, never twice as available. Whether an item is a kit is fixed when it is
created (with components, or without): a kit never gets stock levels, and a
stocked item never turns into a kit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from stockroom.common.contract import MAX_QUANTITY
from stockroom.common.errors import FieldErrors, FieldViolation, InvalidArgument
from stockroom.inventory.domain.model import DOMAIN, KitComponent

MAX_COMPONENTS = 50
MAX_COMPONENT_QUANTITY = 1000

# kit SKU -> its direct components (what the catalog stores).
Definitions = Mapping[str, Sequence[KitComponent]]


def flatten(kit_sku: str, definitions: Definitions) -> tuple[KitComponent, ...]:
    """The stocked items one ``kit_sku`` takes, with quantities multiplied through
    sub-kits and merged per SKU, in SKU order. ``definitions`` must hold every kit
    reachable from ``kit_sku`` (they never form a cycle: ``check_definition``)."""
    needed: dict[str, int] = {}

    def walk(sku: str, times: int, depth: int) -> None:
        if depth > len(definitions):  # only a cycle can go deeper than there are kits
            raise ValueError(f"kit definitions reachable from {kit_sku} form a cycle")
        for component in definitions[sku]:
            if component.sku in definitions:
                walk(component.sku, times * component.quantity, depth + 1)
            else:
                needed[component.sku] = needed.get(component.sku, 0) + times * component.quantity

    walk(kit_sku, 1, 0)
    return tuple(KitComponent(sku, quantity) for sku, quantity in sorted(needed.items()))


def kits_possible(leaves: Iterable[KitComponent], available: Mapping[str, int]) -> int:
    """Whole kits the available units make: min over components of floor(available / qty)."""
    return min((available.get(c.sku, 0) // c.quantity for c in leaves), default=0)


def reachable(start: Iterable[str], definitions: Definitions) -> set[str]:
    """Every SKU reachable from ``start`` through ``definitions`` (``start`` included)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        sku = todo.pop()
        if sku in seen:
            continue
        seen.add(sku)
        todo.extend(c.sku for c in definitions.get(sku, ()))
    return seen


def check_components(errors: FieldErrors, field: str, components: Sequence[KitComponent]) -> None:
    """The shape of a component list (edge validation, no reads): count, repeats,
    quantities. SKU formats are checked by the caller with the shared id rule."""
    if len(components) > MAX_COMPONENTS:
        errors.add(field, f"at most {MAX_COMPONENTS} components per kit", "TOO_MANY")
    for i, component in enumerate(components[:MAX_COMPONENTS]):
        if not 0 < component.quantity <= MAX_COMPONENT_QUANTITY:
            errors.add(
                f"{field}[{i}].quantity",
                f"must be between 1 and {MAX_COMPONENT_QUANTITY}",
                "OUT_OF_RANGE",
            )
    skus = [c.sku for c in components]
    if len(set(skus)) != len(skus):
        errors.add(field, "each component SKU at most once", "DUPLICATE")


def check_definition(
    kit_sku: str,
    components: Sequence[KitComponent],
    field: str,
    items: Iterable[str],
    definitions: Definitions,
) -> None:
    """INVALID_ARGUMENT with a violation per bad component, unless ``kit_sku`` may be made
    of ``components``: each is a registered item (``items``), none is the kit itself or a
    kit containing it (no cycle), and one kit needs at most MAX_QUANTITY units of each
    stocked item. ``definitions`` holds every kit reachable from ``components`` as stored,
    with ``kit_sku``'s old definition left out."""
    known = set(items)
    violations: list[FieldViolation] = []
    for i, component in enumerate(components):
        path = f"{field}[{i}].sku"
        if component.sku == kit_sku:
            violations.append(FieldViolation(path, "a kit cannot contain itself", "KIT_CYCLE"))
        elif component.sku not in known:
            violations.append(
                FieldViolation(path, f"no item with SKU {component.sku!r}", "ITEM_NOT_FOUND")
            )
        elif kit_sku in reachable([component.sku], definitions):
            violations.append(
                FieldViolation(
                    path,
                    f"{component.sku} contains {kit_sku}: the kit would contain itself",
                    "KIT_CYCLE",
                )
            )
    if not violations:
        proposed = {**definitions, kit_sku: tuple(components)}
        for leaf in flatten(kit_sku, proposed):
            if leaf.quantity > MAX_QUANTITY:
                violations.append(
                    FieldViolation(
                        field,
                        f"one kit would take {leaf.quantity} units of {leaf.sku}"
                        f" (at most {MAX_QUANTITY})",
                        "TOO_LARGE",
                    )
                )
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        raise InvalidArgument(
            f"the kit's components are not valid: {summary}",
            reason="INVALID_KIT",
            domain=DOMAIN,
            field_violations=violations,
        )
