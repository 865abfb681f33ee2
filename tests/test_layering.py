"""Domain code is plain Python: importing it loads neither grpc nor SQLAlchemy.

Covers the services' ``domain`` packages and what they may use from the
common library (``errors``, ``contract``).
"""

from __future__ import annotations

import subprocess
import sys

PLAIN = ["stockroom.common.errors", "stockroom.common.contract"]
DOMAINS = ["stockroom.inventory.domain", "stockroom.pricing.domain"]

CHECK = """
import importlib, pkgutil, sys
for name in {plain}:
    importlib.import_module(name)
for name in {domains}:
    package = importlib.import_module(name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{{name}}.{{module.name}}")
print(sorted({{"grpc", "sqlalchemy"}} & set(sys.modules)))
"""


def test_domain_code_imports_neither_grpc_nor_sqlalchemy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(plain=PLAIN, domains=DOMAINS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
