"""What every Stockroom service and client shares.

Import the pieces from their modules (``stockroom.common.errors``,
``stockroom.common.server`` ...); this package deliberately re-exports nothing
so importing it stays cheap and free of side effects.
"""
