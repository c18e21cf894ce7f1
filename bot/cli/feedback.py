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
from bot.cli.rules import flows_rules
from bot.coach.feedback import Feedback, analyse, build_rules, compiled_rules


def add_parser(subparsers: Subparsers) -> None:
    parser = command(subparsers, "feedback", run, "how a message you plan to say may land",
                     "How a message you plan to say may land: a verdict, a score, what may "
                     "sound harsh and why, and a calmer way to say it.", text="words")
    parser.add_argument("--json", action="store_true", help="one JSON object per result")
    add_setting_options(parser)
    parser.add_argument("words", nargs="*", metavar="TEXT",
                        help="the message (default: each line of stdin); put -- before text "
                             "that starts with '-'")


def run(args: argparse.Namespace) -> int:
    rules = flows_rules(args, "coach/feedback_rules.yaml", build_rules)
    setting = setting_of(args)
    if args.words:
        print(render(analyse(" ".join(args.words), rules, setting), args.json,
                     single_line=False))
        return 0
    for line in sys.stdin:
        print(render(analyse(line.rstrip("\r\n"), rules, setting), args.json,
                     single_line=True))
    sys.stdout.flush()
    return 0


def _text(key: str) -> Any:
    return compiled_rules().raw["cli"][key]


def readable(fb: Feedback) -> str:
    """Multi-line readable result: verdict, findings, what works, suggested rewrite."""
    verdict = _text("verdicts").get(fb.verdict, fb.verdict)
    lines = [_text("header").format(verdict=verdict, score=fb.score)]
    for f in fb.findings:
        excerpt = " ".join(f.excerpt.split())
        lines.append(_text("finding").format(kind=f.kind, excerpt=excerpt,
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
