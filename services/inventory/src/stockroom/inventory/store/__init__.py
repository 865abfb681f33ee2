"""Inventory persistence: SQLAlchemy Core, one transaction per public store method."""
