"""The ``stockroom`` command: local development and calls to the services."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stockroom.cli import dev, inventory, pricing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockroom", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    dev.add_parser(subcommands)
    inventory.add_parser(subcommands)
    pricing.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.handler(args))
