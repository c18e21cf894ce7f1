"""Simulated practices with the shipped partner: how often a line or a tip repeats, how
many different lines each style says, and whether the mood moves as it should.

Run from the repository root: `.venv/bin/python tools/simulate_practice.py [--sessions N]`.
Each session picks a role and a style, opens with a line, and replies up to 8 times with
lines drawn from tests/data/practice_replies.yaml (by move, at random), through the same
flow actions the roleplay flow runs.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import build_registry, load_flows  # noqa: E402
from bot.coach.partner import STYLES  # noqa: E402
from bot.engine import EngineContext  # noqa: E402
from bot.flowlang.catalog import Catalog  # noqa: E402
from bot.session import Session  # noqa: E402

REPLIES = ROOT / "tests" / "data" / "practice_replies.yaml"
PARTNER, COACH = "Partner: ", "Coach: "
TURNS = 8
# what a person may have said earlier about what happened (talk's `behavior`, repair's
# `repair_what`), so the partner can say it back
WHAT_HAPPENED = {"hurt": ["you messaging Jo every night", "you flirting with Sam at parties",
                          "you telling people at work you're single", ""],
                 "crossed": ["the late-night messages with Jo that I kept from you",
                             "me hiding how much I talk to Alex", ""]}


@dataclass
class Figures:
    sessions: int = 0
    turns: int = 0
    sessions_with_a_repeated_line: int = 0
    tips_twice_in_a_row: int = 0
    lines_by_style: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    quoting: int = 0  # partner lines with the person's words in them (quoted, a name, what
    # happened)
    partner_lines: int = 0
    mood_after_calm: list[int] = field(default_factory=list)
    mood_after_jabs: list[int] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"sessions {self.sessions}, replies {self.turns}, partner lines "
                 f"{self.partner_lines}",
                 f"sessions with a line said twice: {self.sessions_with_a_repeated_line}",
                 f"the same tip twice in a row: {self.tips_twice_in_a_row}",
                 f"partner lines quoting the person: {self.quoting} "
                 f"({100 * self.quoting / max(1, self.partner_lines):.1f}%)"]
        for key in sorted(self.lines_by_style):
            lines.append(f"distinct lines said, {key}: {len(self.lines_by_style[key])}")
        for name, moods in (("calm, specific replies", self.mood_after_calm),
                            ("jabs and 'but'-apologies", self.mood_after_jabs)):
            if moods:
                lines.append(f"mood after 4 {name}: mean {sum(moods) / len(moods):+.2f} "
                             f"(−3 tense … +2 opening), {Counter(moods).most_common()}")
        return "\n".join(lines)


def _practise(catalog: Catalog, registry: object, role: str, style: str, opener: str,
              replies: list[str], user: str, what: str = ""
              ) -> tuple[list[str], list[str], EngineContext]:
    slots = {"rp_role": role, "rp_pick": style, "best_opener": opener, "role": role}
    if what:
        slots["behavior" if role == "hurt" else "repair_what"] = what
    session = Session(user, "roleplay", "partner_opens", slots=slots)
    ctx = EngineContext(session, catalog, registry, {}, services=catalog.services)  # type: ignore[arg-type]
    actions = registry.actions  # type: ignore[attr-defined]
    actions["roleplay_start"].func(ctx, None)
    for reply in replies:
        session.step += 1
        session.slots["rp_reply"] = reply
        actions["roleplay_turn"].func(ctx, None)
    said = [line[len(PARTNER):] for line in ctx.out if line.startswith(PARTNER)]
    tips = [line[len(COACH):] for line in ctx.out if line.startswith(COACH)]
    return said, tips, ctx


def simulate(sessions: int, seed: int = 7) -> Figures:
    catalog, registry = load_flows(), build_registry()
    corpus = yaml.safe_load(REPLIES.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    figures = Figures()
    for number in range(sessions):
        role = rng.choice(["hurt", "crossed"])
        style = rng.choice(STYLES)
        moves = corpus[role]
        replies = [rng.choice(moves[rng.choice(sorted(moves))])
                   for _ in range(rng.randint(1, TURNS))]
        opener = rng.choice(moves["feeling"] + moves["accusation"] + moves["request"])
        what = rng.choice(WHAT_HAPPENED[role])
        said, tips, ctx = _practise(catalog, registry, role, style, opener, replies,
                                    f"sim:{number}", what)
        figures.sessions += 1
        figures.turns += len(replies)
        figures.partner_lines += len(said)
        figures.sessions_with_a_repeated_line += len(set(said)) < len(said)
        figures.tips_twice_in_a_row += sum(a == b for a, b in itertools.pairwise(tips))
        figures.lines_by_style[f"{role} practising, {style}"].update(said)
        theirs = [w for w in ("Jo", "Sam", "Alex") if w in what or w in opener]
        figures.quoting += sum("“" in line or any(w in line for w in theirs)
                               or "me messaging" in line or "me flirting" in line
                               or "you kept from me" in line for line in said)
    for number in range(sessions // 10):  # mood: four calm lines, or four jabs
        role, style = rng.choice(["hurt", "crossed"]), rng.choice(STYLES)
        calm = [rng.choice(corpus[role][m]) for m in rng.choices(
            ["feeling", "question", "boundary"] if role == "hurt" else
            ["apology", "question", "boundary"], k=4)]
        jabs = [rng.choice(corpus[role][m]) for m in rng.choices(
            ["sarcasm", "accusation"] if role == "hurt" else ["but_apology", "sarcasm"], k=4)]
        for replies, into in ((calm, figures.mood_after_calm),
                              (jabs, figures.mood_after_jabs)):
            *_, ctx = _practise(catalog, registry, role, style, replies[0], replies,
                                f"mood:{number}")
            into.append(int(ctx.session.slots["rp_mood"]))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(simulate(args.sessions, args.seed).report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
