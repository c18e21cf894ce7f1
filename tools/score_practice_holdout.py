"""Score a hold-out of practice replies (the move the partner answers) and of typed answers
at buttons, with the shipped flows: how often the coach reads what was said right.

Run from the repository root:
`.venv/bin/python tools/score_practice_holdout.py tests/data/holdout_practice/moves.yaml
tests/data/holdout_practice/choices.yaml`. The files are written by someone who never saw
the cue words (see their header comments); score a hold-out once and report it as it came out.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import load_flows  # noqa: E402
from bot.choice_match import AnswerWords, match  # noqa: E402
from bot.coach.coaching import Coaching  # noqa: E402
from bot.coach.feedback import analyse  # noqa: E402
from bot.coach.moves import read_move  # noqa: E402
from bot.engine import answer_words_of  # noqa: E402
from bot.setting import Setting  # noqa: E402


def score_moves(path: Path, coaching: Coaching) -> str:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    right, total, misses = 0, 0, Counter[tuple[str, str]]()
    per_move: Counter[str] = Counter()
    per_move_right: Counter[str] = Counter()
    for role, items in data.items():
        for item in items:
            fb = analyse(item["text"], setting=Setting(role, "practice"))
            kinds = [f.kind for f in fb.findings]
            got = (read_move(item["text"], kinds, coaching.moves, fb.positives)
                   if coaching.moves else "other")
            total += 1
            per_move[item["move"]] += 1
            if got == item["move"]:
                right += 1
                per_move_right[item["move"]] += 1
            else:
                misses[(item["move"], got)] += 1
    lines = [f"moves read right: {right}/{total} = {100 * right / total:.1f}%"]
    lines += [f"  {move}: {per_move_right[move]}/{n}" for move, n in sorted(per_move.items())]
    lines += ["most common misreadings (expected -> read):"]
    lines += [f"  {a} -> {b}: {n}" for (a, b), n in misses.most_common(8)]
    return "\n".join(lines)


def score_choices(path: Path, words: AnswerWords) -> str:
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    right = wrong_pick = missed = 0
    for case in cases:
        found = match(case["typed"], case["buttons"], words)
        picked = case["buttons"][found.pick] if found.pick is not None else None
        if picked == case["expected"]:
            right += 1
        elif picked is not None:
            wrong_pick += 1  # the worst outcome: a button the person did not mean
        else:
            missed += 1  # asked "Did you mean …?" or nothing: a second tap, not a wrong one
    total = len(cases)
    return (f"typed answers read right: {right}/{total} = {100 * right / total:.1f}%; "
            f"a wrong button picked: {wrong_pick}; asked again or not read: {missed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("moves", type=Path)
    parser.add_argument("choices", type=Path, nargs="?")
    args = parser.parse_args(argv)
    catalog = load_flows()
    coaching = catalog.services["coaching"]
    assert isinstance(coaching, Coaching)
    print(score_moves(args.moves, coaching))
    if args.choices:
        print(score_choices(args.choices, answer_words_of(catalog)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
