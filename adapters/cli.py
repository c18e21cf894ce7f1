"""The `coach` command line: the composition root that joins the core with an adapter.

Only this module decides exit codes; nothing below it calls sys.exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.app import Settings, build_coach, check_flows
from bot.crypto import CipherKeyError
from bot.flowlang.catalog import flow_files
from bot.flowlang.errors import FlowErrors
from bot.paths import flows_dir
from bot.store.base import StoreOpenError
from bot.store.sqlite import UnreadableStore
from bot.store.url import StoreURLError
from bot.templates import fill

EXIT_FLOWS = 2
EXIT_ARGUMENTS = 2  # a usage error, as argparse reports one (README's exit codes)
EXIT_USAGE = 64
EXIT_STORE = 74  # EX_IOERR: the store cannot be opened
EXIT_INTERRUPTED = 130
DISTRIBUTION = "conversation-coach"
TELEGRAM_BENCH = ("coach: the Telegram bench runs from a checkout (its fake Bot API server is "
                  "test code): .venv/bin/python tools/telegram_bench.py --help")
GLOBAL_OPTIONS = ("--store", "--flows", "--log-level")
CHECK_PATHS_HELP = ("flow files or folders (default: the flows folder). A folder is checked "
                    "as the bot checks it at start-up; a single file is checked together "
                    "with the other flows in its folder, and only its own problems are "
                    "reported")


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after the command's name. Below the top
    level they default to "not given", so they never undo a value given before."""
    unset = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--store", help="memory, sqlite:///path.db or a path "
                                        "(default: $COACH_STORE or your data directory)",
                        **({"default": None} if top else unset))
    parser.add_argument("--flows", type=Path, help="flows directory (default: the shipped "
                                                   "flows, or $COACH_FLOWS_DIR)",
                        **({"default": None} if top else unset))
    parser.add_argument("--log-level", help="logging level (default: $COACH_LOG_LEVEL or "
                                            "WARNING)",
                        **({"default": os.environ.get("COACH_LOG_LEVEL", "WARNING")}
                           if top else unset))


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coach", description="Conversation Coach")
    parser.add_argument("--version", action=_Version, help="print the version and stop")
    _global_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, top=False)
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="talk to the coach in this terminal", parents=[common])
    chat.add_argument("--user", default=os.environ.get("USER") or "me",
                      help="whose session to use (default: your login name)")
    flows = sub.add_parser("flows", help="check the flow files")
    flows_sub = flows.add_subparsers(dest="flows_command", required=True)
    check = flows_sub.add_parser("check", help="report every problem as file:line:col",
                                 parents=[common])
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH", help=CHECK_PATHS_HELP)
    transcripts = flows_sub.add_parser("test", help="run conversation transcripts: coach flows "
                                                    "test PATH...", add_help=False)
    transcripts.add_argument("rest", nargs=argparse.REMAINDER)
    for name, what in (("feedback", "how a message you plan to say may land"),
                       ("screen", "the safety screen's verdict on messages")):
        passthrough = sub.add_parser(name, help=what, add_help=False)
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)
    telegram = sub.add_parser("telegram", help="run as a Telegram bot ($TELEGRAM_BOT_TOKEN)",
                              parents=[common])
    telegram.add_argument("--webhook-url", help="receive updates by webhook at this public URL "
                                                "(default: long polling)")
    telegram.add_argument("--listen", default="0.0.0.0", help="webhook listen address")
    telegram.add_argument("--port", type=int, default=8443, help="webhook listen port")
    sub.add_parser("discord", help="run as a Discord bot ($DISCORD_BOT_TOKEN)",
                   parents=[common])
    keys = sub.add_parser("keys", help="the store's encryption keys", parents=[common])
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("new", help="print a fresh key for $COACH_SECRET_KEY", parents=[common])
    keys_sub.add_parser("rotate", help="re-encrypt every stored session under a new key",
                        parents=[common])
    bench = sub.add_parser("bench", help="measure messages per second and latency")
    bench.add_argument("--store", dest="bench_store", choices=("memory", "sqlite"),
                       default="memory", help="which store to measure (default memory)")
    bench.add_argument("--flows", type=Path, default=argparse.SUPPRESS,
                       help="flows directory to walk (default: the shipped flows)")
    bench.add_argument("--log-level", default=argparse.SUPPRESS, help="logging level")
    bench.add_argument("--users", type=_count(1), default=200,
                       help="simulated people (default 200)")
    bench.add_argument("--messages", type=_count(1), default=20000,
                       help="messages in all (default 20000)")
    bench.add_argument("--telegram", action="store_true",
                       help="moved: run tools/telegram_bench.py from a checkout")
    bench.add_argument("--rate", type=float, default=None,
                       help="messages per second offered in the paced run (default: half "
                            "the saturated throughput)")
    bench.add_argument("--preload", type=_count(0), default=0,
                       help="store this many idle sessions first (sqlite only)")
    bench.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if hasattr(args, "rest"):
        args.rest = _take_global_options(args, [*unknown, *args.rest])  # the rest: their own
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    level = logging.getLevelName(str(args.log_level).upper())
    if not isinstance(level, int):
        parser.error(f"argument --log-level: unknown level '{args.log_level}' "
                     "(DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "flows" and args.flows_command == "check":
            return _flows_check(args.paths or [args.flows or flows_dir()])
        if args.command == "chat":
            return _chat(args)
        if args.command == "keys":
            from adapters.keys import run_keys

            return run_keys(args.keys_command, args.store)
        if args.command in ("feedback", "screen") or getattr(args, "flows_command", "") == "test":
            return _passthrough(args)
        if args.command == "telegram":
            from adapters.telegram import run_telegram

            return run_telegram(Settings(args.store, args.flows), args)
        if args.command == "discord":
            from adapters.discord import run_discord

            return run_discord(Settings(args.store, args.flows), args)
        if args.command == "bench":
            return _bench(args)
    except FlowErrors as errors:
        for problem in errors.problems:
            print(problem, file=sys.stderr)
        print(f"{len(errors.problems)} problem(s) in the flows; nothing was started.",
              file=sys.stderr)
        return EXIT_FLOWS
    except StoreOpenError as error:
        print(f"coach: {error}", file=sys.stderr)
        return EXIT_STORE
    except (StoreURLError, CipherKeyError, UnreadableStore) as error:
        print(f"coach: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`coach ... | head`); nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return EXIT_USAGE


def _take_global_options(args: argparse.Namespace, rest: list[str]) -> list[str]:
    """`coach flows test --store x` and the like: the options every command takes are read
    here, wherever they were written; the other words go to the command's own parser."""
    kept: list[str] = []
    words = iter(rest)
    for word in words:
        name, equals, value = word.partition("=")
        if name not in GLOBAL_OPTIONS or getattr(args, "command", "") in ("feedback", "screen"):
            kept.append(word)
            continue
        if not equals:
            value = next(words, "")
        attribute = name.removeprefix("--").replace("-", "_")
        setattr(args, attribute, Path(value) if attribute == "flows" else value)
    return kept


def _flows_check(paths: list[Path]) -> int:
    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:
        for path in missing:
            print(f"{path}:1: no such file or directory", file=sys.stderr)
        return EXIT_FLOWS
    catalog, problems = check_flows(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return EXIT_FLOWS
    assert catalog is not None
    took = (time.perf_counter() - started) * 1000
    asked = {str(p) for p in flow_files(paths)}
    checked = [f for f in catalog.flows.values() if f.spec.path in asked]
    states = sum(len(f.spec.states) for f in checked)
    print(fill("ok: ${flows} flow|flows, ${states} state|states checked in ${ms} ms",
               {"flows": len(checked), "states": states, "ms": f"{took:.0f}"}))
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.telegram:  # the bench needs test code, which an installed coach does not have
        print(TELEGRAM_BENCH, file=sys.stderr)
        return EXIT_ARGUMENTS
    from bot.bench import run_bench

    return run_bench(store=args.bench_store, users=args.users, messages=args.messages,
                     as_json=args.json, flows=args.flows, preload=args.preload,
                     rate=args.rate)


def _passthrough(args: argparse.Namespace) -> int:
    """Commands whose options their own module parses."""
    if args.command == "feedback":
        from bot.coach.feedback_cli import run
    elif args.command == "screen":
        from bot.safety.screen_cli import run
    else:
        from bot.transcripts import run as run_transcripts

        given = args.rest
        if args.flows is not None and not any(w.partition("=")[0] == "--flows" for w in given):
            given = ["--flows", str(args.flows), *given]
        return run_transcripts(given, sys.stdout)
    return run(args.rest, sys.stdin, sys.stdout)


def _chat(args: argparse.Namespace) -> int:
    """The console. Besides the common codes: 2 when there is no input at all (stdin closed
    or /dev/null, i.e. `docker run` without -it), 74 when the store fails for good, and 143
    after SIGTERM, handled explicitly because PID 1 in a container gets no default for it."""
    import signal
    import sqlite3

    from adapters.console import ConsoleChat, StoreUnusable, input_missing
    from bot.store.base import StoreUnavailable

    exit_no_input, exit_terminated = 2, 128 + signal.SIGTERM
    if input_missing(sys.stdin):
        print("coach: no input to chat with (stdin is closed or /dev/null): run it in a "
              "terminal; in a container, use `docker run -it`", file=sys.stderr)
        return exit_no_input
    for stream in (sys.stdin, sys.stdout):  # a stray byte must not stop the chat
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    coach = build_coach(Settings(args.store, args.flows))
    chat = ConsoleChat(coach, args.user, sys.stdout)

    async def run() -> int:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main
            loop.add_signal_handler(signal.SIGTERM, chat.stop)
        try:
            await chat.run(sys.stdin)
        finally:
            try:
                await coach.close()
            finally:
                loop.remove_signal_handler(signal.SIGTERM)
        return exit_terminated if chat.stopped else 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # Ctrl-C: every reply so far was committed before it was shown
        sys.stdout.write("\n")
        sys.stdout.flush()
        return EXIT_INTERRUPTED
    except StoreUnusable as error:
        print(f"coach: the store cannot be used ({error}); nothing was saved", file=sys.stderr)
        return EXIT_STORE
    except (StoreUnavailable, sqlite3.Error) as error:  # a failure sending again cannot fix
        reason = error.reason if isinstance(error, StoreUnavailable) else error
        print(f"coach: the store failed ({reason}); the last message may not have been saved",
              file=sys.stderr)
        return EXIT_STORE
