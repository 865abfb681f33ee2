"""Pricing persistence (SQLAlchemy Core, async): each public method is one transaction."""
