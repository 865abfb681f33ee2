"""The ``stockroom`` command: call the services, run them locally.

Exit codes (also in libs/cli/README.md): 0 done; 1 the service refused (a precondition,
already exists, a conflict); 2 bad input (the command line, or INVALID_ARGUMENT from the
service); 3 not found; 4 not reachable, too slow, overloaded or NOT_SERVING; 5 TLS or
permission; 6 a server fault; 130 interrupted. Errors go to stderr with a hint; a closed
pipe (``| head``) ends the command quietly.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import click
from click.shell_completion import get_completion_class

from stockroom.cli import (
    dev,
    inventory,
    inventory_bulk,
    inventory_lifecycle,
    inventory_stock,
    inventory_supply,
    pricing,
    pricing_bulk,
    pricing_lifecycle,
    pricing_lists,
)
from stockroom.cli.failures import EXIT_INTERRUPTED, EXIT_OK, Failure
from stockroom.cli.output import PipeClosed

PROG = "stockroom"
COMPLETE_VAR = "_STOCKROOM_COMPLETE"


def package_version() -> str:
    try:
        return version("stockroom-cli")
    except PackageNotFoundError:
        return "unknown"


@click.group(name=PROG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_version(), "--version", prog_name=PROG, message="%(prog)s %(version)s"
)
def cli() -> None:
    """Call the Stockroom services and run them locally.

    Every service command takes --target, --timeout, --tls-ca/--tls-cert/--tls-key and
    -o table|json|yaml (and --request-id when it changes something), or their
    environment variables: INVENTORY_TARGET, PRICING_TARGET, STOCKROOM_TIMEOUT,
    STOCKROOM_TLS_CA/_CERT/_KEY, STOCKROOM_OUTPUT, STOCKROOM_REQUEST_ID.
    """


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(stockroom completion bash)"."""
    completer = get_completion_class(shell)
    assert completer is not None  # the choices are the shells click supports
    click.echo(completer(cli, {}, PROG, COMPLETE_VAR).source())


cli.add_command(dev.group)
cli.add_command(inventory.group)
cli.add_command(pricing.group)
for command in (*pricing_lifecycle.COMMANDS, *pricing_bulk.COMMANDS, *pricing_lists.COMMANDS):
    pricing.group.add_command(command)
for command in (
    *inventory_stock.COMMANDS,
    *inventory_bulk.COMMANDS,
    *inventory_supply.COMMANDS,
    *inventory_lifecycle.COMMANDS,
):
    inventory.group.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command; failures become a message on stderr and an exit code, never a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and COMPLETE_VAR not in os.environ:
        args = ["--help"]
    try:
        code = cli.main(args, prog_name=PROG, complete_var=COMPLETE_VAR, standalone_mode=False)
        sys.stdout.flush()
    except Failure as failure:
        _stderr("\n".join(failure.lines()))
        code = failure.exit_code
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        _stderr("interrupted")
        code = EXIT_INTERRUPTED
    except (BrokenPipeError, PipeClosed):
        # The reader (`| head`) has what it wanted: stop quietly, and keep Python's own
        # flush at exit from failing on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _stderr(text: str) -> None:
    with contextlib.suppress(BrokenPipeError):
        print(text, file=sys.stderr, flush=True)
