"""`coach feedback [--json] [TEXT]`: how a message someone plans to say may land.

The wording of the result (verdicts, labels, "Try: ...") lives in the rules file beside the
analyser's other words, never in code. With TEXT one readable result; from stdin one result
per line, so a script can pair them up.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.cli.common import Subparsers, add_setting_options, command, setting_of
from bot.cli.rules import add_learned_option, flows_learned, flows_rules
from bot.coach.evaluation import benchmark, evaluate, format_report
from bot.coach.feedback import EXAMPLES_FILE, Feedback, analyse
from bot.coach.feedback_rules import VERDICTS, build_rules, compiled_rules


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "feedback", run, "how a message you plan to say may land",
                     "How a message you plan to say may land: a verdict, a score, what may "
                     "sound harsh and why, and a calmer way to say it.", text="words")
    parser.add_argument("--json", action="store_true", help="one JSON object per result")
    add_setting_options(parser)
    add_learned_option(parser)
    measure = parser.add_mutually_exclusive_group()
    measure.add_argument("--evaluate", metavar="FILE",
                         help="calm-vs-not and exact verdict accuracy, and the kinds found in "
                              "harsh lines, on labelled lines (YAML `items:` with text, "
                              "verdict, kinds; role and context when known)")
    measure.add_argument("--benchmark", metavar="FILE",
                         help="median microseconds per line over labelled lines, as JSON")
    parser.add_argument("words", nargs="*", metavar="TEXT",
                        help="the message (default: each line of stdin); put -- before text "
                             "that starts with '-'")


def run(args: argparse.Namespace) -> int:
    rules = flows_rules(args, "coach/feedback_rules.yaml", build_rules)
    learned = flows_learned(args, EXAMPLES_FILE, VERDICTS, "verdict")
    if args.evaluate:
        print(format_report(evaluate("all", args.evaluate, rules=rules, learned=learned,
                                         language=args.lang)))
        return 0
    if args.benchmark:
        print(json.dumps(benchmark(5, args.benchmark, rules, learned), indent=2))
        return 0
    setting = setting_of(args)
    if args.words:
        print(render(analyse(" ".join(args.words), rules, setting, learned), args.json,
                     single_line=False))
        return 0
    for line in sys.stdin:
        print(render(analyse(line.rstrip("\r\n"), rules, setting, learned), args.json,
                     single_line=True))
    sys.stdout.flush()
    return 0


def _text(key: str) -> Any:
    return compiled_rules().raw["cli"][key]


def readable(fb: Feedback) -> str:
    """Multi-line readable result: verdict, findings, what works, suggested rewrite."""
    if not fb.read:
        return _text("unread").format(languages=", ".join(compiled_rules().languages))
    verdict = _text("verdicts").get(fb.verdict, fb.verdict)
    lines = [_text("header").format(verdict=verdict, score=fb.score)]
    for f in fb.findings:
        excerpt = " ".join(f.excerpt.split())
        template = "finding" if excerpt else "finding_whole"
        lines.append(_text(template).format(kind=f.kind, excerpt=excerpt,
                                            explanation=f.explanation))
    if fb.positives:
        labels = _text("positive_labels")
        named = ", ".join(str(labels.get(p, p)) for p in fb.positives)
        lines.append(_text("positives").format(positives=named))
    lines.append(_text("try").format(rewrite=fb.rewrite))
    return "\n".join(lines)


def render(fb: Feedback, as_json: bool, single_line: bool) -> str:
    """JSON, one line per result from stdin, or the readable result."""
    if as_json:
        return json.dumps(fb.to_dict(), ensure_ascii=False)
    if single_line:
        return " | ".join(line.strip() for line in readable(fb).splitlines())
    return readable(fb)
