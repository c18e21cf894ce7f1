"""What every command shares: the exit codes, the error a command stops with, the options
every command takes, and how a command's parser is made.

The exit codes are the README's; only bot/cli/ turns a failure into one.
"""

from __future__ import annotations

import argparse
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from bot.logs import parse_level
from bot.setting import CONTEXTS, ROLES, Setting

EXIT_FAILED = 1  # a check that ran and failed (a transcript), a bot that could not start
EXIT_USAGE = 2  # a usage error, broken flows, no input to chat with
EXIT_SETTING = 64  # a setting that cannot work (EX_USAGE in sysexits.h)
EXIT_UNAVAILABLE = 69  # a program it needs is not there (Graphviz's dot; EX_UNAVAILABLE)
EXIT_STORE = 74  # a store that cannot be opened or used (EX_IOERR)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: `docker stop`

Runner = Callable[[argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction, which it does not export
_NUMBER = re.compile(r"-\d+$|-\d*\.\d+$")  # what argparse reads as a negative number
UNKNOWN_OPTION = "unknown option (put -- before text that starts with '-')"


class CommandError(Exception):
    """A command cannot go on: one line for stderr (printed after `coach: `) and its code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class CoachParser(argparse.ArgumentParser):
    """argparse for every command, except that one taking free text never repeats a word of
    it in an error: `coach screen -hurt me` may be the start of someone's message."""

    takes_text = False

    def error(self, message: str) -> NoReturn:
        if self.takes_text and ("explicit argument" in message
                                or message.startswith("unrecognized arguments")):
            message = UNKNOWN_OPTION
        super().error(message)


def log_level(text: str) -> str:
    """argparse type for --log-level: the name, checked."""
    try:
        parse_level(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def count(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def positive(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def add_global_options(parser: argparse.ArgumentParser, *, top: bool,
                       store: bool = True) -> None:
    """The options every command takes, before or after the command's name. Below the top
    level they default to "not given", so they never undo a value given before."""
    def default(value: object) -> dict[str, object]:
        return {"default": value if top else argparse.SUPPRESS}

    if store:
        parser.add_argument("--store", metavar="URL",
                            help="memory, sqlite:///path.db, a path or "
                                 "postgresql://user@host:port/db (default: $COACH_STORE "
                                 "or coach.db in your data directory)", **default(None))
    parser.add_argument("--flows", type=Path, metavar="DIR",
                        help="flows directory (default: $COACH_FLOWS_DIR or the shipped "
                             "flows)", **default(None))
    parser.add_argument("--log-level", type=log_level, metavar="LEVEL",
                        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: "
                             "$COACH_LOG_LEVEL or WARNING)",
                        **default(None))


def global_options(*, store: bool = True) -> argparse.ArgumentParser:
    """A parent parser with the global options, for a command's own parser."""
    parent = argparse.ArgumentParser(add_help=False)
    add_global_options(parent, top=False, store=store)
    return parent


def command(subparsers: Subparsers, name: str, run: Runner | None, help: str,
            description: str | None = None, *, text: str | None = None, store: bool = True,
            usage: str | None = None) -> argparse.ArgumentParser:
    """A command's parser, with the global options. `run` is what main() calls (None for a
    command that only holds subcommands); `text` names the attribute that holds free text,
    which may be spread between options and takes `--` before words that start with '-'."""
    parser: CoachParser = subparsers.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + ".",
        usage=usage, parents=[global_options(store=store)])
    parser.set_defaults(run=run, command_parser=parser, text_attribute=text)
    parser.takes_text = text is not None
    return parser


def looks_like_option(word: str) -> bool:
    """As argparse tells an option from a value: a leading '-', not a number, no space."""
    return word.startswith("-") and word != "-" and " " not in word and not _NUMBER.match(word)


def take_unparsed(args: argparse.Namespace, unparsed: list[str]) -> None:
    """argparse gives a free-text positional only its first run of words; the rest comes
    back unparsed. Those words (and all after `--`) are text; an unknown option is a usage
    error (which CoachParser words without repeating it)."""
    parser: CoachParser = args.command_parser
    attribute = args.text_attribute
    if attribute is None:
        if unparsed:
            parser.error(f"unrecognized arguments: {' '.join(unparsed)}")
        return
    words: list[str] = list(getattr(args, attribute))
    literal = False
    for word in unparsed:
        if literal:
            words.append(word)
        elif word == "--":
            literal = True
        elif looks_like_option(word):
            parser.error(f"unrecognized arguments: {word}")
        else:
            words.append(word)
    setattr(args, attribute, words)


def port(text: str) -> int:
    """argparse type: a TCP port, 1 to 65535."""
    value = count(1)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number up to 65535, not {value}")
    return value


def add_status_options(parser: argparse.ArgumentParser) -> None:
    """--status-port and --status-listen: /healthz and /metrics for a bot command."""
    parser.add_argument("--status-port", type=port, default=None, metavar="N",
                        help="serve GET /healthz and GET /metrics (Prometheus) on this port "
                             "(default: $COACH_STATUS_PORT, else not served)")
    parser.add_argument("--status-listen", default=None, metavar="ADDR",
                        help="the address for --status-port (default: $COACH_STATUS_LISTEN, "
                             "else 127.0.0.1)")


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """--role, --context and --lang: judge a message as the chat would, for that speaker,
    place and session language."""
    parser.add_argument("--role", choices=ROLES,
                        help="who speaks: the partner who was hurt, or who crossed a line")
    parser.add_argument("--context", choices=CONTEXTS, default="chat",
                        help="where the message was typed (default: chat)")
    parser.add_argument("--lang", default="en", metavar="LANG",
                        help="the session's language (default: en); a language the rules "
                             "do not read is said to be unread, never judged with English "
                             "words (for --evaluate, each item's own `lang` comes first)")


def setting_of(args: argparse.Namespace) -> Setting:
    return Setting(args.role, args.context, args.lang)
