"""The gRPC face of the inventory: proto in, one store call, proto out."""

from stockroom.inventory.api.servicer import InventoryServicer

__all__ = ["InventoryServicer"]
