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
from bot.cli.rules import add_learned_option, flows_learned, flows_rules
from bot.safety.evaluation import SPLITS, LabelledDataError, benchmark, evaluate
from bot.safety.screen import (
    EXAMPLES_FILE,
    LABELS,
    RENAMED,
    ScreenResult,
    cleared_by_words,
    load_rules,
    says_more,
    screen,
)
from bot.safety.screen_rules import RuleSet, build_rules
from bot.understanding.learned import LearnedReader

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
    add_learned_option(parser)
    parser.add_argument("--explain", action="store_true",
                        help="also the labelled examples nearest to the message (their text, "
                             "never the message's), and how far it reads as a risk")
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
    learned = flows_learned(args, EXAMPLES_FILE, LABELS, "category")
    if args.evaluate is not None or args.benchmark is not None:
        return _measure(args.evaluate, args.benchmark, rules, learned, args.lang)
    setting = setting_of(args)
    texts = [" ".join(args.words)] if args.words else (
        line.rstrip("\r\n") for line in sys.stdin)
    for text in texts:
        result = screen(text, rules, setting, learned)
        explained = _explain(text, learned, result, screen(text, rules, setting),
                             rules or load_rules()) if args.explain else None
        print(_format(result, args.json, explained), flush=True)
    return 0


def _explain(text: str, learned: LearnedReader | None, result: ScreenResult,
             words: ScreenResult, rules: RuleSet) -> dict:
    """Why the learned stage reads a message as it does: whether it decided, its lead over
    "none" against the threshold, and the nearest labelled examples (examples from the
    flows, never the screened text). `words`: what the rules alone found."""
    if learned is None:
        return {"decided": False, "why": "the learned stage is off (--rules-only)"}
    reading = learned.read(text, max(learned.neighbours, 3))
    past = (f"the rules cleared its words ({words.rule}); the learned stage reads the whole "
            f"message past that, at a lead of {learned.threshold} with {learned.agree} of the "
            f"{learned.neighbours} nearest examples agreeing")
    beyond_the_whole = (result.rule.startswith("learned.") and not cleared_by_words(words)
                        and learned.leans_away(text, "none") is None)
    in_a_sentence = beyond_the_whole and learned.leans_away_in_a_sentence(text, "none")
    by_spelling = beyond_the_whole and not in_a_sentence and learned.leans_away_by_spelling(
        text, "none")
    if in_a_sentence:
        reading = in_a_sentence
        why = (f"it decided: one sentence of it reads as a risk by {learned.sentence_lead} or "
               f"more (its nearest examples below)")
    elif by_spelling:
        reading = by_spelling
        why = (f"it decided: the {learned.spelling_neighbours} examples spelt most like it "
               f"vote for a risk by {learned.spelling_lead} or more, the nearest "
               f"{learned.spelling_alike} alike or more (the nearest below)")
    elif result.rule.startswith("learned.") and cleared_by_words(words):
        why = f"it decided: {past}"
    elif result.rule.startswith("learned."):
        why = ("it decided: the nearest example says nearly the same"
               if learned.is_close(reading, "none")
               and reading.lead_over("none") < learned.threshold else "it decided")
    elif cleared_by_words(words) and not says_more(text, rules):
        why = (f"it did not read it: the rules cleared its words ({words.rule}), and it says "
               f"nothing more")
    elif cleared_by_words(words):
        why = f"it did not act: {past}"
    elif RENAMED in result.rule:
        fired, named = result.rule.split(RENAMED, 1)
        why = (f"the rules decided ({fired}); the whole message reads as {named} by "
               f"{learned.rename_lead} or more over {words.category}, with a nearest "
               f"example of it, so it is named {named}")
    elif result.rule != "no_match":
        why = "the rules decided; the learned stage reads only messages no rule matched"
    elif not learned.can_read(text):
        why = f"too short to read (under {learned.min_words} words)"
    else:
        why = (f"it did not act: it acts at a lead of {learned.threshold} with {learned.agree} "
               f"of the {learned.neighbours} nearest examples agreeing")
        if learned.close:
            why += (f", or of {learned.close_lead} when the nearest example is a risk "
                    f"{learned.close} alike or more")
        if learned.sentence_lead:
            why += f", or of {learned.sentence_lead} in one sentence of a longer message"
        if learned.spelling_lead:
            why += (f", or, for {learned.spelling_words} words or more, when the "
                    f"{learned.spelling_neighbours} examples spelt most like it vote for a "
                    f"risk by {learned.spelling_lead}, the nearest {learned.spelling_alike} "
                    f"alike or more")
    return {"decided": result.rule.startswith("learned."), "why": why,
            "risk_lead": round(reading.lead_over("none"), 2),
            "leans_to": reading.label_away("none", learned.neighbours),
            "nearest": [{"category": e.label, "similarity": round(sim, 2), "example": e.text}
                        for e, sim in reading.nearest[:3]]}


def _format(result: ScreenResult, as_json: bool, explained: dict | None = None) -> str:
    if as_json:
        return json.dumps({**result.to_dict(), **({"learned": explained} if explained else {})},
                          sort_keys=False, ensure_ascii=False)
    line = f"{result.risk}: {result.category} ({result.rule})"
    if explained:
        line += f"\n  learned stage: {explained['why']}"
        if "nearest" in explained:
            line += (f"\n  it leans to {explained['leans_to']} by {explained['risk_lead']} over "
                     "none; nearest examples:")
            line += "".join(f"\n  - {n['category']} {n['similarity']}: {n['example']}"
                            for n in explained["nearest"])
    return line


def _measure(evaluating: list[str] | None, benchmarking: str | None,
             rules: RuleSet | None, learned: LearnedReader | None, language: str = "en") -> int:
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
            figures = evaluate(split, data, rules, learned, language)
        else:
            figures = benchmark(BENCHMARK_REPEATS, data, rules, learned)
    except LabelledDataError as error:
        return _fail(str(error))
    print(json.dumps(figures, indent=2))
    return 0


def _fail(message: str) -> int:
    """Problems with the labelled data, on stdout with the figures they replace."""
    print(f"coach screen: {message}")
    return EXIT_USAGE
