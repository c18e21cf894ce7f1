"""`coach flows messages extract` and `coach flows messages update LANG`: the translators'
files beside the flows (bot/i18n/extract.py), and what `coach flows check` says about them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.cli.common import EXIT_USAGE, CommandError, Subparsers, command

LANG = re.compile(r"^[a-z]{2,3}$")


def add_parser(inner: Subparsers) -> None:
    messages = command(inner, "messages", run, "the translators' files: extract, update LANG",
                       "Write flows/locales/messages.pot from the flows (extract), or bring "
                       "flows/locales/LANG.po up to date with it (update LANG): translations "
                       "are kept, changed English marks them fuzzy, removed ones become "
                       "obsolete.")
    verbs = messages.add_subparsers(dest="messages_command", required=True, metavar="ACTION",
                                    help="extract or update:")
    command(verbs, "extract", run, "write locales/messages.pot from the flows")
    update = command(verbs, "update", run, "merge messages.pot into locales/LANG.po")
    update.add_argument("lang", metavar="LANG", help="the language code, e.g. es")


def run(args: argparse.Namespace) -> int:
    from bot.i18n.extract import update, write_template
    from bot.paths import flows_dir

    folder: Path = args.flows or flows_dir()
    if args.messages_command == "extract":
        path, count = write_template(folder)
        print(f"wrote {path}: {count} sentences")
        return 0
    if not LANG.match(args.lang) or args.lang == "en":
        raise CommandError(f"'{args.lang}' is not a language code to translate into (two or "
                           "three letters, not en: English is the source)", EXIT_USAGE)
    path, po = update(folder, args.lang)
    fuzzy = sum("fuzzy" in e.flags for e in po)
    todo = sum(not e.msgstr and not e.obsolete for e in po)
    print(f"wrote {path}: {len(po) - todo - fuzzy - len(po.obsolete_entries())} translated, "
          f"{fuzzy} fuzzy, {todo} to translate, {len(po.obsolete_entries())} obsolete")
    return 0


def report(folder: Path, lang: str | None) -> tuple[list[str], list[str]]:
    """For `coach flows check`: (errors, lines to print): the translations' errors, a count
    line per language, and with `lang` every gap of that language with file:line."""
    from bot.i18n.po_check import check_translations

    errors: list[str] = []
    lines: list[str] = []
    for found in check_translations(folder):
        errors += [str(p) for p in found.errors]
        lines.append(found.summary())
        if lang == found.lang:
            lines += [str(p) for p in found.gaps]
    return errors, lines
