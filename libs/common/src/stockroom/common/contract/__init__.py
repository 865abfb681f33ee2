"""The rules every service applies to the identifiers and limits they share.

Declared once here, imported by each service's request validation, so a value
one service accepts is never refused by another (filled in by the contract
work that follows the package split).
"""

__all__: list[str] = []
