"""`coach screen`: the safety screen's verdict on messages, and its figures on labelled data.

It never echoes message text, not even in an error about an unknown option: screened messages
can describe abuse or self-harm, and terminal scrollback, CI logs and shell history are not
safe places for them.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli.common import EXIT_USAGE, Subparsers, add_setting_options, command, setting_of
from bot.cli.rules import flows_rules
from bot.safety.evaluation import SPLITS, LabelledDataError, benchmark, evaluate
from bot.safety.screen import RuleSet, ScreenResult, build_rules, screen

BENCHMARK_REPEATS = 25
EVALUATE = f"--evaluate FILE [{'|'.join(SPLITS)}]"


class _Formatter(argparse.HelpFormatter):
    """Shows what --evaluate and --benchmark take (argparse cannot say "FILE, then a split
    if you like, in either order")."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.dest == "evaluate":
            return EVALUATE.removeprefix("--evaluate ")
        if action.dest == "benchmark":
            return "FILE"
        return super()._format_args(action, default_metavar)


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "screen", run, "the safety screen's verdict on messages",
                     "The safety screen's verdict on messages: risk, category and the rule "
                     "that decided, never the text. With TEXT, screen it; without, screen one "
                     "message per line of stdin.", text="words")
    parser.formatter_class = _Formatter
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    add_setting_options(parser)
    measure = parser.add_mutually_exclusive_group()
    measure.add_argument("--evaluate", nargs="*", metavar="FILE",
                         help="recall, false alarms and category accuracy on labelled data "
                              "(YAML with `items:`, each with text, category and split), on "
                              "one split (default test), as JSON")
    measure.add_argument("--benchmark", nargs="?", const="", metavar="FILE",
                         help="median microseconds per message over labelled data, as JSON")
    parser.add_argument("words", nargs="*", metavar="TEXT",
                        help="the message (default: each line of stdin); put -- before text "
                             "that starts with '-'")


def run(args: argparse.Namespace) -> int:
    rules = flows_rules(args, "safety/screen_rules.yaml", build_rules)
    if args.evaluate is not None or args.benchmark is not None:
        return _measure(args.evaluate, args.benchmark, rules)
    setting = setting_of(args)
    if args.words:
        print(_format(screen(" ".join(args.words), rules, setting), args.json))
        return 0
    for line in sys.stdin:
        print(_format(screen(line.rstrip("\r\n"), rules, setting), args.json), flush=True)
    return 0


def _format(result: ScreenResult, as_json: bool) -> str:
    if as_json:
        return json.dumps(result.to_dict(), sort_keys=False)
    return f"{result.risk}: {result.category} ({result.rule})"


def _measure(evaluating: list[str] | None, benchmarking: str | None,
             rules: RuleSet | None) -> int:
    """--evaluate and --benchmark: the figures as JSON, or one line saying what is wrong."""
    split, data = "test", benchmarking or None
    for value in evaluating or ():  # FILE and a split, in either order
        if value in SPLITS:
            split = value
        elif data is None:
            data = value
        else:
            return _fail(f"{EVALUATE} takes one file")
    if data is None:
        wanted = EVALUATE if evaluating is not None else "--benchmark FILE"
        return _fail(f"give the labelled data file: coach screen {wanted}")
    try:
        if evaluating is not None:
            figures = evaluate(split, data, rules)
        else:
            figures = benchmark(BENCHMARK_REPEATS, data, rules)
    except LabelledDataError as error:
        return _fail(str(error))
    print(json.dumps(figures, indent=2))
    return 0


def _fail(message: str) -> int:
    """Problems with the labelled data, on stdout with the figures they replace."""
    print(f"coach screen: {message}")
    return EXIT_USAGE
