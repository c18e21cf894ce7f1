"""Regenerate docs/walkthroughs.md: one console walk-through per flow, from real runs.

Run from the repository root: `.venv/bin/python tools/walkthroughs.py`. Each walk feeds its
inputs to the console adapter (what `coach --store memory chat` runs) as a fresh person; since
the console does not echo piped input, each input is written after its `> ` prompt.

It also counts the reading each walk asks for, because length is what people on a phone feel:
bubbles (reply parts the coach sent; each `say` part is one today) and the characters in them
(button labels not included). The table goes at the top of docs/walkthroughs.md and is printed.
"""

from __future__ import annotations

import asyncio
import io
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.console import PROMPT, ConsoleChat  # noqa: E402
from bot.app import Settings, build_coach  # noqa: E402
from bot.messages import Incoming, Reply  # noqa: E402

ADULT = "1"  # "Yes, I'm 18 or older" on a first visit

WALKS: list[tuple[str, str, list[str]]] = [
    ("menu", "First visit: what this is and is not, the age check, the browse list, how it "
     "works, back to the menu.", [ADULT, "5", "10", "1", "11"]),
    ("learn", "Someone curious: what it is, the gray area, the six kinds (one picked), a reason "
     "card with a typed reflection and its acknowledgement, then on to talk, where the picked "
     "behaviour is offered.",
     [ADULT, "3", "1", "1", "2", "1", "1", "I think I wanted to feel noticed again", "6", "1",
      "1"]),
    ("talk", "The hurt partner: the safety question, the opener templates first (\"Show me ways "
     "to start\"), the behaviour in their own words, a feeling, an opener picked and "
     "rewritten, the coach's feedback, a practice round with a defensive partner, the "
     "summary, on to boundaries.",
     [ADULT, "1", "1", "7", "1", "I've noticed you texting your ex late at night and deleting "
      "the messages", "I feel shut out", "3",
      "I love us and I want to be honest. I've seen the late texts to your ex and I feel hurt. "
      "Can we talk this weekend?", "2", "1", "3",
      "I believe you didn't mean to hurt me, and it still hurt. Can we talk about it?",
      "You ALWAYS say that. Whatever.", "1", "2", "1"]),
    ("boundaries", "The four questions, one skipped, the summary as a starting point for a "
     "talk together, the answers as one message to share, on to transparency.",
     [ADULT, "4", "1", "Friendly chat is fine; flirting isn't.", "1",
      "I'd like us both to mention new close friends.", "Being told I'm imagining things.",
      "1", "1"]),
    ("transparency", "From the browse list: the four habits as commitments; one written as "
     "watching the partner gets a gentle note and is asked again; one skipped; the summary; "
     "on to needs.",
     [ADULT, "5", "4", "1", "I will check his phone every night and track his location",
      "I will mention it when I have lunch with Alex.",
      "I will stop deleting chats.", "I will keep the Sunday walk we agreed on.", "1", "1"]),
    ("needs", "The three questions: one typed, one tapped, one typed; each acknowledged to fit "
     "the answer, with one idea to try; the summary; on to support.",
     [ADULT, "5", "5", "1", "We've drifted since the baby was born.", "1", "2", "1",
      "The argument about money last spring.", "1", "1"]),
    ("support", "From the browse list: when couples and individual therapy help, then on to "
     "the closing thoughts.", [ADULT, "5", "6", "1", "1", "2", "1"]),
    ("repair", "The partner who crossed a line: the reason, accountability, the safety "
     "question, what they did, an opener, the coach's feedback, a practice round with the "
     "partner who was hurt (hurt and guarded), the commitments handed over to transparency "
     "and back, the summary.",
     [ADULT, "2", "2", "1", "1", "the late-night messages with Jo that I kept from you", "2",
      "1", "2", "1", "3", "I'm sorry, but you were never home.",
      "You're right. It makes sense that you can't trust me yet.", "1", "2", "1", "1",
      "I will tell you when Jo gets in touch.", "I will stop clearing my messages.",
      "I will keep the weekly walk we agreed.", "I will come to you first when I feel low.",
      "1", "1"]),
    ("roleplay", "Straight to the practice with /start roleplay: who is practising, the "
     "safety question, a dismissive partner who was hurt, and the summary.",
     [ADULT, "/start roleplay", "2", "1", "4",
      "I want to talk about the messages with Jo. I kept them from you, and I'm sorry.",
      "You're right that words aren't enough. From now on I'll tell you when Jo gets in touch.",
      "It was nothing, honestly.", "1"]),
    ("wrapup", "The hurt partner opens the closing thoughts: both notes, theirs first, and "
     "the closing line on one screen. Then leaving the boundary questions mid-way with /menu "
     "and picking up with Continue where I left off.",
     [ADULT, "1", "/start wrapup", "1", "5", "1", "Friendly is fine.", "/menu", "1"]),
    ("safety", "A message that signals danger mid-flow: the rehearsal stops, help lines show, "
     "and the person chooses what comes next. Nothing they wrote is echoed or kept, and the "
     "calm-conversation rehearsal stays closed afterwards.",
     [ADULT, "4", "1", "he shoved me against the wall when I asked about her", "1",
      "/start talk", "1"]),
]


# Counted but not written out: paths whose length people noticed.
MEASURES: list[tuple[str, list[str]]] = [
    ("hurt partner: /start to an opener", [ADULT, "1", "1", "1", "1"]),
    ("hurt partner: all five steps, then closing thoughts",
     [ADULT, "1", "1", "1", "1", "1", "1", "2", "3", "1",  # talk: kept opener 1, no practice
      "1", "1", "1", "1", "1", "2",  # boundaries: all four skipped
      "1", "1", "1", "1", "1", "1",  # transparency: all four skipped
      "1", "2", "1", "2", "1", "2", "1", "1",  # needs: three taps
      "1", "2", "1"]),  # support: couples therapy, what now, closing thoughts
]


# Bubbles and characters measured before the texts were shortened (December 2026), kept so
# the table shows what changed. A walk not listed here shows no "before" figures.
BEFORE: dict[str, tuple[int, int]] = {
    "menu": (11, 966), "learn": (22, 2541), "talk": (47, 5271), "boundaries": (17, 2730),
    "transparency": (22, 2481), "needs": (21, 2774), "support": (18, 2194),
    "repair": (64, 8311), "roleplay": (24, 1875), "wrapup": (18, 2063), "safety": (19, 2455),
    "hurt partner: /start to an opener": (13, 1827),
    "hurt partner: all five steps, then closing thoughts": (70, 9623),
}


@dataclass
class Walk:
    """One run: what the console showed, and how much the coach wrote."""

    text: str
    bubbles: int
    chars: int


class _Counting(ConsoleChat):
    """The console adapter, counting each reply part it shows."""

    bubbles = 0
    chars = 0

    def show(self, reply: Reply) -> None:
        if not reply.duplicate:
            self.bubbles += len(reply.parts)
            self.chars += sum(len(part) for part in reply.parts)
        super().show(reply)


async def _converse(inputs: list[str]) -> _Counting:
    coach = build_coach(Settings("memory", config={}))
    chat = _Counting(coach, "walk", io.StringIO())
    try:
        chat.show(await coach.open(Incoming(chat.user)))
        for line in inputs:
            await chat.answer(line)
    finally:
        await coach.close()
    return chat


def run(inputs: list[str]) -> Walk:
    """Talk through `inputs` as a fresh person (no operator COACH_* settings)."""
    chat = asyncio.run(_converse(inputs))
    assert isinstance(chat.out, io.StringIO)
    pieces = chat.out.getvalue().split(PROMPT)
    out = [pieces[0]]
    for typed, piece in zip(inputs, pieces[1:], strict=False):
        out.append(f"{PROMPT}{typed}\n{piece}")
    return Walk("".join(out).rstrip() + "\n", chat.bubbles, chat.chars)


def table(rows: list[tuple[str, Walk]],
          before: dict[str, tuple[int, int]] | None = None) -> list[str]:
    """A Markdown table of bubbles and characters per walk, with the total; with `before`,
    the earlier figures next to them."""
    before = before or {}
    lines = ["| walk | bubbles | characters | before: bubbles | before: characters |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, walk in rows:
        old = before.get(name)
        then = f"{old[0]} | {old[1]}" if old else "– | –"
        lines.append(f"| {name} | {walk.bubbles} | {walk.chars} | {then} |")
    known = [before[name] for name, _ in rows if name in before]
    then = (f"{sum(b for b, _ in known)} | {sum(c for _, c in known)}"
            if len(known) == len(rows) else "– | –")
    lines.append(f"| **total** | {sum(w.bubbles for _, w in rows)} | "
                 f"{sum(w.chars for _, w in rows)} | {then} |")
    return lines


def main() -> int:
    lines = ["# Console walk-throughs", "",
             "One walk-through per flow, made by `tools/walkthroughs.py`, which pipes the listed",
             "inputs into `coach --store memory chat` (a fresh person each time). The console",
             "does not echo piped input, so each input is shown right after its `> ` prompt.",
             "Numbers press the numbered buttons of the reply above them.", ""]
    walks = [(name, what, inputs, run(inputs)) for name, what, inputs in WALKS]
    counted = table([(name, walk) for name, _, _, walk in walks], BEFORE)
    paths = table([(name, run(inputs)) for name, inputs in MEASURES], BEFORE)
    lines += ["## How much there is to read", "",
              "Bubbles are the reply parts the coach sent; characters are the text in them",
              "(button labels not included).", "", *counted, "",
              "Other paths, counted the same way:", "", *paths[:-1], ""]
    for name, what, inputs, walk in walks:
        command = " ".join(shlex.quote(i) for i in inputs)
        lines += [f"## {name}", "", what, "", "```sh",
                  f"printf '%s\\n' {command} | coach --store memory chat", "```", "",
                  "```text", walk.text.rstrip(), "```", ""]
    (ROOT / "docs" / "walkthroughs.md").write_text("\n".join(lines))
    print("\n".join([*counted, "", *paths[:-1]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
