"""`coach chat`: the console adapter wired to the coach, for a terminal or a pipe.

Besides the common exit codes: 2 when there is no input at all (stdin closed or /dev/null,
i.e. `docker run` without -it), 74 when the store fails for good, 130 for Ctrl-C and 143
after SIGTERM, handled explicitly because PID 1 in a container gets no default for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import sys

from bot.app import Settings, build_coach
from bot.cli.common import (
    EXIT_STORE,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CommandError,
    Subparsers,
    command,
)
from bot.store.base import StoreUnavailable

NO_INPUT = ("no input to chat with (stdin is closed or /dev/null): run it in a terminal; in "
            "a container, use `docker run -it`")


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "chat", run, "talk to the coach in this terminal",
                     "Talk to the coach in this terminal, or through a pipe: choices show as "
                     "[N] label; answer with the number, the words, or a command such as "
                     "/menu. Quit with Ctrl-D.")
    parser.add_argument("--user", default=os.environ.get("USER") or "me", metavar="NAME",
                        help="whose session to use (default: your login name)")
    parser.add_argument("--lang", metavar="LANG",
                        help="the language to speak, from the first line (a shipped one, "
                             "e.g. es; /language changes it later)")


def run(args: argparse.Namespace) -> int:
    from adapters.console import ConsoleChat, StoreUnusable, input_missing

    if input_missing(sys.stdin):
        raise CommandError(NO_INPUT, EXIT_USAGE)
    for stream in (sys.stdin, sys.stdout):  # a stray byte must not stop the chat
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    coach = build_coach(Settings(args.store, args.flows))
    shipped = list(coach.texts_by_language())
    if args.lang and args.lang not in shipped:
        raise CommandError(f"--lang {args.lang}: the languages shipped with these flows are "
                           f"{', '.join(shipped)}", EXIT_USAGE)
    chat = ConsoleChat(coach, args.user, sys.stdout, args.lang)

    async def session() -> int:
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
        return EXIT_TERMINATED if chat.stopped else 0

    try:
        return asyncio.run(session())
    except KeyboardInterrupt:  # Ctrl-C: every reply so far was committed before it was shown
        sys.stdout.write("\n")
        sys.stdout.flush()
        raise
    except StoreUnusable as error:
        raise CommandError(f"the store cannot be used ({error}); nothing was saved",
                           EXIT_STORE) from error
    except (StoreUnavailable, sqlite3.Error) as error:  # a failure sending again cannot fix
        reason = error.reason if isinstance(error, StoreUnavailable) else error
        raise CommandError(f"the store failed ({reason}); the last message may not have "
                           "been saved", EXIT_STORE) from error
