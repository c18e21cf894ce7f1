"""`coach store migrate|copy`: the PostgreSQL store's schema, and moving sessions between
stores.

`migrate`: the coach also does it at start-up; the command is for an operator who upgrades
the schema before starting the new version (or checks that a database is one the coach can
use). A schema newer than this coach is refused (exit 74) and left as it is.

`copy SRC DST`: every session, re-sealed under DST's keys, counted; run again to finish a
run that was stopped (bot/store/copy.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from bot.cli.common import EXIT_SETTING, CommandError, Subparsers, command, count
from bot.crypto import ENV_KEY, Cipher, cipher_from_text
from bot.store.base import Store
from bot.store.copy import CopyCounts, copy_sessions
from bot.store.url import (
    check_postgres_url,
    default_store_url,
    is_postgres,
    open_store,
    store_place,
)

COPY_HELP = (
    "Copy every session from the store SRC into the store DST (SQLite to PostgreSQL and "
    "back, or SQLite to SQLite), re-sealed under DST's keys with a fresh data key per "
    "person. A session DST already has at the same or a newer version is left as it is, so "
    "a stopped run is finished by running it again. Keys: SRC's are $COACH_SECRET_KEY, "
    "else SRC's key file (beside an SQLite file; in your data directory for PostgreSQL); "
    "DST's are the same, unless --dst-key-env names a variable that holds them. Stop the "
    "bots that write SRC first; start them on DST after.")


def add_parser(subparsers: Subparsers) -> None:
    store = command(subparsers, "store", None, "the session store: schema, copying")
    inner = store.add_subparsers(dest="store_command", required=True, metavar="SUBCOMMAND",
                                 help="migrate or copy:")
    command(inner, "migrate", run, "create or upgrade the PostgreSQL store's schema",
            "Create or upgrade the schema of the PostgreSQL store at --store (the coach also "
            "does it when it starts). A schema newer than this coach is refused, unchanged.")
    copy = command(inner, "copy", run, "copy every session from one store to another",
                   COPY_HELP, store=False)
    copy.add_argument("source", metavar="SRC", help="the store to copy from (a URL or path, "
                      "as --store takes)")
    copy.add_argument("destination", metavar="DST", help="the store to copy into")
    copy.add_argument("--dst-key-env", metavar="NAME",
                      help=f"the variable holding DST's keys, written as ${ENV_KEY} is "
                           "(default: DST's keys are found as SRC's are)")
    copy.add_argument("--every", type=count(1), default=1000, metavar="N",
                      help="print a progress line every N sessions (default 1000)")


def run(args: argparse.Namespace) -> int:
    if args.store_command == "copy":
        return run_copy(args.source, args.destination, args.dst_key_env, args.every)
    return run_migrate(args.store)


def run_migrate(store_url: str | None) -> int:
    """Migrate the store at `store_url` (None: the default); the exit code."""
    url = store_url or default_store_url()
    if not is_postgres(url):
        print("nothing to migrate: only the PostgreSQL store has a versioned schema "
              "(SQLite keeps its own when opened)")
        return 0
    from bot.store.postgres import migrate_database, safe_url

    check_postgres_url(url)
    before, after = asyncio.run(migrate_database(url))
    where = safe_url(url)
    if before == after:
        print(f"{where}: the schema is up to date (version {after})")
    else:
        print(f"{where}: schema version {before} -> {after}")
    return 0


def run_copy(source_url: str, destination_url: str, key_variable: str | None = None,
             every: int = 1000) -> int:
    """`coach store copy`: the exit code; the failures are raised for main() to word."""
    places = store_place(source_url), store_place(destination_url)
    if "memory" in (places[0][0], places[1][0]):
        raise CommandError("copy between stores that keep their sessions: the memory store "
                           "keeps none", EXIT_SETTING)
    if _same(*places):
        raise CommandError("SRC and DST are the same store: nothing to copy", EXIT_SETTING)
    cipher = _destination_keys(key_variable)
    source = open_store(source_url, must_exist=True)
    try:
        destination = open_store(destination_url, cipher=cipher)
    except BaseException:
        asyncio.run(source.close())
        raise
    counts = asyncio.run(_copy(source, destination, every))
    print(counts.line())
    return 0


async def _copy(source: Store, destination: Store, every: int) -> CopyCounts:
    try:
        return await copy_sessions(source, destination, every=every, progress=_progress)
    finally:
        await source.close()
        await destination.close()


def _progress(counts: CopyCounts) -> None:
    print(f"{counts.seen:,} sessions: {counts.line()}", flush=True)


def _same(first: tuple[str, str], second: tuple[str, str]) -> bool:
    """Two spellings of one store: the same server and database, or the same file."""
    if first[0] != second[0]:
        return False
    if first[0] == "sqlite":
        return os.path.realpath(first[1]) == os.path.realpath(second[1])
    return first == second


def _destination_keys(variable: str | None) -> Cipher | None:
    if variable is None:
        return None
    text = os.environ.get(variable, "").strip()
    if not text:
        raise CommandError(f"--dst-key-env {variable}: ${variable} is not set", EXIT_SETTING)
    return cipher_from_text(text, f"${variable}")
