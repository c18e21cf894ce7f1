"""`coach store migrate`: create or upgrade the PostgreSQL store's schema.

The coach also does this at start-up; the command is for an operator who upgrades the
schema before starting the new version (or checks that a database is one the coach can
use). A schema newer than this coach is refused (exit 74) and left as it is.
"""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import Subparsers, command
from bot.store.url import check_postgres_url, default_store_url, is_postgres


def add_parser(subparsers: Subparsers) -> None:
    store = command(subparsers, "store", None, "the session store's schema")
    inner = store.add_subparsers(dest="store_command", required=True, metavar="SUBCOMMAND",
                                 help="migrate:")
    command(inner, "migrate", run, "create or upgrade the PostgreSQL store's schema",
            "Create or upgrade the schema of the PostgreSQL store at --store (the coach also "
            "does it when it starts). A schema newer than this coach is refused, unchanged.")


def run(args: argparse.Namespace) -> int:
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
