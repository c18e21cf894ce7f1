"""`coach keys new|rotate`: key handling for the encrypted SQLite store.

A running bot keeps the keys it started with. With a key file, rotate while the bot is
stopped (else it goes on writing under the key the rotation drops); with COACH_SECRET_KEY
(or COACH_SECRET_KEY_FILE), either stop it or first restart it with the same `<new>,<old>`
keys.
"""

from __future__ import annotations

import argparse
import asyncio
import os

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


def add_parser(subparsers: Subparsers) -> None:
    keys = command(subparsers, "keys", None, "the store's encryption keys")
    inner = keys.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND",
                                help="new or rotate:")
    command(inner, "new", run, f"print a fresh key for ${ENV_KEY}")
    command(inner, "rotate", run, "re-encrypt every stored session under a new key",
            "Re-encrypt every stored session under a new key: with a key file, stop the bot "
            f"first; with ${ENV_KEY}, put the new key in front of the current one.")


def run(args: argparse.Namespace) -> int:
    return run_keys(args.keys_command, args.store)


def run_keys(subcommand: str, store_url: str | None) -> int:
    """`new` prints a key; `rotate` re-encrypts the store at `store_url` (None: the default)."""
    if subcommand == "new":
        print(new_key().decode("ascii"))
        return 0
    store = open_store(store_url, must_exist=True)
    if not isinstance(store, SQLiteStore):
        print("coach keys rotate: only the SQLite store can be rotated so far")
        return EXIT_SETTING
    return asyncio.run(_rotate(store))


async def _rotate(store: SQLiteStore) -> int:
    try:
        if keys_configured():
            return await _rotate_environment(store)
        return await _rotate_key_file(store)
    finally:
        await store.close()


async def _rotate_environment(store: SQLiteStore) -> int:
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
    rows = await store.rotate_keys()
    print(f"re-encrypted {rows} session(s) under the new (first) key in {where}; "
          f"no session needs the older {'key' if len(keys) == 2 else 'keys'} now.\n"
          f"Next: {alone}, and restart the bot.")
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
    rows = await store.rotate_keys()
    write_key_file(path, [new])
    print(f"re-encrypted {rows} session(s) under a new key in {path}")
    return 0
