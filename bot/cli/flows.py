"""`coach flows check` and `coach flows test`: the flows checked, and transcripts played
(`coach flows graph`, the map, is bot/cli/flows_graph.py).

`check` reports every problem as file:line:col on stderr (2 if any). `test` writes its whole
report on stdout, problems included, as a test runner does: 0 all passed, 1 a transcript
failed or could not be read, 2 no transcript path given, a path missing or broken flows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from bot.cli import flows_graph, flows_messages
from bot.cli.common import EXIT_FAILED, EXIT_USAGE, Subparsers, command
from bot.flowlang.errors import FlowErrors

CHECK_PATHS_HELP = ("flow files or folders (default: the flows folder). A folder is checked "
                    "as the bot checks it at start-up; a single file is checked together "
                    "with the other flows in its folder, and only its own problems are "
                    "reported")
NO_TRANSCRIPTS = ("coach flows test: give the transcript files or folders to run "
                  "(coach flows test PATH...)")


def add_parser(subparsers: Subparsers) -> None:
    flows = command(subparsers, "flows", None, "check the flow files, play transcripts, or "
                                               "draw the map",
                    "Check the flow files, play conversation transcripts through them, or "
                    "draw them as a map.")
    inner = flows.add_subparsers(dest="flows_command", required=True, metavar="SUBCOMMAND",
                                 help="check, test or graph:")
    check = command(inner, "check", run, "report every problem as file:line:col")
    check.add_argument("paths", nargs="*", type=Path, metavar="PATH", help=CHECK_PATHS_HELP)
    check.add_argument("--lang", metavar="LANG",
                       help="also list every sentence missing, fuzzy or unused in LANG's "
                            "translation, with file:line")
    test = command(inner, "test", run, "run conversation transcripts: coach flows test "
                                       "PATH...",
                   "Play conversation transcripts through the coach and report PASS or FAIL "
                   "for each.")
    test.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                      help="transcript files or folders (folders are searched deeply)")
    test.add_argument("-k", dest="only", metavar="TEXT",
                      help="run only transcripts whose name contains TEXT")
    test.add_argument("--show", action="store_true",
                      help="print every turn and the coach's reply (handy while writing)")
    flows_graph.add_parser(inner)
    flows_messages.add_parser(inner)


def run(args: argparse.Namespace) -> int:
    if args.flows_command == "check":
        return check(args.paths or [args.flows or _flows_dir()], lang=args.lang)
    return test(args.paths, args.flows, only=args.only, show=args.show)


def _flows_dir() -> Path:
    from bot.paths import flows_dir

    return flows_dir()


def _folder_of_data_file(path: Path) -> Path | None:
    """The flows folder a file belongs to when it is one of the files kept beside the flows
    (core messages, help lines, coaching texts, rule files), else None (a flow)."""
    from bot.app import features
    from bot.flowlang.catalog import MESSAGES_FILE

    if path.is_dir():
        return None
    for relative in (MESSAGES_FILE, *(data.path for data in features().data_files)):
        size = len(relative.parts)
        if path.parts[-size:] == relative.parts and len(path.parts) >= size:
            return path.parents[size - 1]
    return None


def check(paths: list[Path], lang: str | None = None) -> int:
    from bot.app import check_flows
    from bot.flowlang.catalog import flow_files
    from bot.templates import fill

    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:
        for path in missing:
            print(f"{path}:1: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    owned = {path: folder for path in paths if (folder := _folder_of_data_file(path))}
    problems = []
    for path, folder in owned.items():  # checked as what they are, in their flows folder
        problems += [p for p in check_flows([folder])[1] if p.path == str(path)]
    flows = [p for p in paths if p not in owned]
    catalog = None
    if flows or not owned:
        catalog, found = check_flows(flows)
        problems += found
    problems = [str(p) for p in problems]
    folders = [p for p in paths if p.is_dir()]
    languages: list[str] = []
    if len(folders) == 1 and not owned:  # a flows folder: its translations too
        found, languages = flows_messages.report(folders[0], lang)
        problems += found
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return EXIT_USAGE
    if catalog is None:
        print(f"ok: {', '.join(str(p) for p in owned)} checked")
        return 0
    took = (time.perf_counter() - started) * 1000
    asked = {str(p) for p in flow_files(paths)}
    checked = [f for f in catalog.flows.values() if f.spec.path in asked]
    states = sum(len(f.spec.states) for f in checked)
    print(fill("ok: ${flows} flow|flows, ${states} state|states checked in ${ms} ms",
               {"flows": len(checked), "states": states, "ms": f"{took:.0f}"}))
    for line in languages:
        print(line)
    return 0


def test(paths: list[Path], flows: Path | None, *, only: str | None = None,
         show: bool = False) -> int:
    """One PASS/FAIL line per transcript, then the totals."""
    from bot.app import load_flows
    from bot.transcripts import load_transcripts, play_all

    out = sys.stdout
    if not paths:  # the shipped transcripts are test data, in the repository only
        out.write(NO_TRANSCRIPTS + "\n")
        return EXIT_USAGE
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        out.write(f"{path}:1: no such file or directory\n")
    if missing:
        return EXIT_USAGE
    try:
        catalog = load_flows(flows)
    except FlowErrors as errors:  # part of the report, which is on stdout
        for problem in errors.problems:
            out.write(f"{problem}\n")
        out.write("The flows have problems (see `coach flows check`); no transcript was "
                  "run.\n")
        return EXIT_USAGE
    transcripts, problems = load_transcripts(paths)
    if only:
        transcripts = [t for t in transcripts if only.casefold() in t.name.casefold()]
    for problem in sorted(problems):
        out.write(f"{problem}\n")
    if not transcripts and not problems:
        out.write(f"no transcripts found in {', '.join(str(p) for p in paths)}\n")
        return EXIT_FAILED
    outcomes = asyncio.run(play_all(transcripts, catalog))
    for outcome in outcomes:
        out.write(outcome.summary() + "\n")
        if show:
            out.write("".join(f"    {line}\n" for line in outcome.trace))
    passed = sum(outcome.passed for outcome in outcomes)
    failed = len(outcomes) - passed + len({problem.path for problem in problems})
    out.write(f"{passed} passed, {failed} failed\n")
    return EXIT_FAILED if failed else 0
