"""`coach keys new|rotate`: the store keys, which wrap every person's data key.

A running bot keeps the keys it started with. With a key file (SQLite), rotate while the bot
is stopped (else it goes on writing under the key the rotation drops); with COACH_SECRET_KEY
(or COACH_SECRET_KEY_FILE), either stop it or first restart it with the same `<new>,<old>`
keys. PostgreSQL is rotated in batches while bots run (restarted with `<new>,<old>` first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

from bot.cli.common import EXIT_SETTING, EXIT_STORE, CommandError, Subparsers, command
from bot.crypto import (
    ENV_KEY,
    ENV_KEY_FILE,
    key_file_for,
    keys_configured,
    load_cipher,
    new_key,
    write_key_file,
)
from bot.store.sqlite import SQLiteStore
from bot.store.url import open_store

if TYPE_CHECKING:
    from bot.store.postgres import PostgresStore

    Rotatable = SQLiteStore | PostgresStore


def add_parser(subparsers: Subparsers) -> None:
    keys = command(subparsers, "keys", None, "the store's encryption keys")
    inner = keys.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND",
                                help="new or rotate:")
    command(inner, "new", run, f"print a fresh key for ${ENV_KEY}")
    command(inner, "rotate", run, "re-wrap every person's key under a new store key",
            "Re-wrap every person's data key (and re-seal any session still sealed with the "
            "store key itself) under a new store key, so that no stored key needs the old "
            f"one: with a key file, stop the bot first; with ${ENV_KEY}, put the new key in "
            "front of the current one (PostgreSQL: restart the bots with both, then rotate "
            "while they run; a stopped rotation is finished by running it again).")


def run(args: argparse.Namespace) -> int:
    return run_keys(args.keys_command, args.store)


def run_keys(subcommand: str, store_url: str | None) -> int:
    """`new` prints a key; `rotate` re-encrypts the store at `store_url` (None: the default)."""
    if subcommand == "new":
        print(new_key().decode("ascii"))
        return 0
    store = open_store(store_url, must_exist=True)
    if not hasattr(store, "rotate_keys"):
        print("coach keys rotate: the memory store keeps no keys")
        asyncio.run(store.close())
        return EXIT_SETTING
    return asyncio.run(_rotate(store))  # type: ignore[arg-type]


async def _rotate(store: Rotatable) -> int:
    try:
        if keys_configured():
            return await _rotate_environment(store)
        if not isinstance(store, SQLiteStore):
            print(f"coach keys rotate: a PostgreSQL store's key file ({store.cipher.source}) "
                  "is one process's own: to rotate, set the keys for every process in "
                  f"${ENV_KEY}, as docs/postgres.md says")
            return EXIT_SETTING
        return await _rotate_key_file(store)
    finally:
        await store.close()


PROGRESS_EVERY = 10_000


class _Progress:
    """After each batch of a PostgreSQL rotation: one line whenever another PROGRESS_EVERY
    are done, so a long run shows that it is moving (counts only)."""

    def __init__(self) -> None:
        self.shown = 0

    def __call__(self, keys: int, rows: int) -> None:
        if (keys + rows) // PROGRESS_EVERY > self.shown:
            self.shown = (keys + rows) // PROGRESS_EVERY
            print(f"... {keys:,} key(s) re-wrapped, {rows:,} session(s) re-sealed so far",
                  flush=True)


def _done(keys: int, rows: int) -> str:
    return (f"re-wrapped {keys} person key(s) and re-sealed {rows} older session(s) "
            "under the new (first) key")


async def _rotate_environment(store: Rotatable) -> int:
    """The keys are the operator's to set ($COACH_SECRET_KEY, or the file
    $COACH_SECRET_KEY_FILE names): rotate onto the first one, but only when it is a key the
    rows are not already sealed with, i.e. when a new key was put in front."""
    keys = list(dict.fromkeys(store.cipher.keys)) if store.cipher else []
    in_file = not os.environ.get(ENV_KEY, "").strip()
    where = f"${ENV_KEY_FILE}'s file" if in_file else f"${ENV_KEY}"
    alone = "leave the new key alone in the file" if in_file else \
        f"set {ENV_KEY}=<the new key> alone"
    if len(keys) < 2:
        fresh = new_key().decode("ascii")
        both = (f"     put {fresh} on the first line of the file, your current key below it"
                if in_file else f"     {ENV_KEY}={fresh},<your current key>")
        print(f"{where} holds only one key, so there is nothing to rotate to: every "
              "session is already sealed with it, and nothing was changed.\n"
              "To rotate:\n"
              "  1. put a new key in front of the current one, and restart the bot with "
              "both (or stop it):\n"
              f"{both}\n"
              "     (a fresh key, just made for this; `coach keys new` makes another)\n"
              "  2. run `coach keys rotate` again with that setting: it re-encrypts every "
              "session under the new key\n"
              f"  3. {alone}, and restart the bot")
        return EXIT_SETTING  # nothing to rotate to
    if isinstance(store, SQLiteStore):  # one transaction
        rewrapped, rows = await store.rotate_keys()
    else:  # in batches: a line now and then, so a long run shows it is moving
        rewrapped, rows = await store.rotate_keys(progress=_Progress())
    print(f"{_done(rewrapped, rows)} in {where}; no stored key needs the older "
          f"{'key' if len(keys) == 2 else 'keys'} now.\n"
          f"Next: {alone}, restart the bot, and destroy the older "
          f"{'key' if len(keys) == 2 else 'keys'} once no backup you keep needs "
          f"{'it' if len(keys) == 2 else 'them'}.")
    return 0


async def _rotate_key_file(store: SQLiteStore) -> int:
    """Key file: add a new key first, re-encrypt every row, then drop the old keys. A crash
    in between leaves every key in the file, so nothing becomes unreadable."""
    if not store.in_use.alone():
        raise CommandError(f"{store.path} is open in a running coach: stop it first (it would "
                           "go on writing under the key this rotation drops)", EXIT_STORE)
    path = key_file_for(store.path)
    old = load_cipher(store.path).keys
    new = new_key()
    write_key_file(path, [new, *old])
    store.cipher = load_cipher(store.path)
    rewrapped, rows = await store.rotate_keys()
    write_key_file(path, [new])
    print(f"{_done(rewrapped, rows)} in {path}")
    return 0
