"""The `coach` command line: one argparse tree, one module per command.

This is the composition point that starts an adapter, so it is the one part of bot/ that may
import adapters (lazily, inside a command's run). main() sets up logging, dispatches, and
turns every failure into the README's exit codes here, in one place; nothing below it calls
sys.exit or picks an exit code for an exception.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence

from bot.cli import bench, chat, discord, feedback, flows, keys, screen, store, telegram
from bot.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_SETTING,
    EXIT_STORE,
    EXIT_USAGE,
    CoachParser,
    CommandError,
    add_global_options,
    take_unparsed,
)
from bot.config import SettingError
from bot.crypto import CipherKeyError
from bot.flowlang.errors import FlowErrors
from bot.logs import configure, parse_level
from bot.store.base import StoreOpenError, StoreUnavailable
from bot.store.sqlite import UnreadableStore
from bot.store.url import StoreURLError

DISTRIBUTION = "conversation-coach"
COMMANDS = (chat, telegram, discord, flows, feedback, screen, keys, store, bench)


class _Version(argparse.Action):
    """`coach --version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version(DISTRIBUTION)
        except PackageNotFoundError:
            found = "(version unknown: not installed)"
        print(f"coach {found}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The whole tree: `coach [global options] COMMAND [options]`."""
    parser = CoachParser(
        prog="coach", description="Conversation Coach: prepare for a hard talk.",
        epilog="Every command takes --store, --flows and --log-level before or after its "
               "name. `coach COMMAND --help` describes a command.")
    parser.add_argument("--version", action=_Version, help="print the version and stop")
    add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       help="one of:")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `coach` command; the exit code."""
    parser = build_parser()
    try:
        args, unparsed = parser.parse_known_args(argv)
        take_unparsed(args, unparsed)
    except SystemExit as stop:  # --help, --version or a usage error, already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        _logging(args.log_level)
        return args.run(args)
    except CommandError as error:
        _say(str(error))
        return error.code
    except FlowErrors as errors:
        for problem in errors.problems:
            print(problem, file=sys.stderr)
        print(f"{len(errors.problems)} problem(s) in the flows; nothing was started.",
              file=sys.stderr)
        return EXIT_USAGE
    except (StoreOpenError, StoreURLError) as error:
        _say(str(error))
        return EXIT_STORE
    except (CipherKeyError, UnreadableStore, SettingError) as error:
        _say(str(error))
        return EXIT_SETTING
    except (StoreUnavailable, sqlite3.Error) as error:
        reason = error.reason if isinstance(error, StoreUnavailable) else error
        _say(f"the store failed ({reason})")
        return EXIT_STORE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`coach ... | head`); nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _logging(level_name: str | None) -> None:
    """stderr, at --log-level (else COACH_LOG_LEVEL), in COACH_LOG_FORMAT; tokens redacted
    from every line. The variables are checked here, so an error names the variable."""
    fmt = os.environ.get("COACH_LOG_FORMAT", "").strip().lower() or "text"
    if level_name is None:
        level_name = os.environ.get("COACH_LOG_LEVEL", "").strip() or "WARNING"
        try:
            parse_level(level_name)
        except ValueError as error:
            raise CommandError(f"COACH_LOG_LEVEL: {error}", EXIT_SETTING) from None
    try:
        configured = configure(parse_level(level_name), fmt)
    except ValueError as error:
        raise CommandError(str(error), EXIT_SETTING) from None
    if configured:
        from adapters.redact import install_redaction

        install_redaction()


def _say(message: str) -> None:
    print(f"coach: {message}", file=sys.stderr)
