"""Regenerate docs/walkthroughs.md: one console walk-through per flow, from real runs.

Run from the repository root: `.venv/bin/python tools/walkthroughs.py`. Each walk pipes its
inputs into `coach --store memory chat` as a fresh person; since the console does not echo
piped input, each input is written after its `> ` prompt.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def run(inputs: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    done = subprocess.run([sys.executable, "-m", "bot", "--store", "memory", "chat"],
                          input="\n".join(inputs) + "\n", capture_output=True, text=True,
                          cwd=ROOT, env=env, check=True, timeout=60)
    pieces = done.stdout.split("> ")
    out = [pieces[0]]
    for typed, piece in zip(inputs, pieces[1:], strict=False):
        out.append(f"> {typed}\n{piece}")
    return "".join(out).rstrip() + "\n"


def main() -> int:
    lines = ["# Console walk-throughs", "",
             "One walk-through per flow, made by `tools/walkthroughs.py`, which pipes the listed",
             "inputs into `coach --store memory chat` (a fresh person each time). The console",
             "does not echo piped input, so each input is shown right after its `> ` prompt.",
             "Numbers press the numbered buttons of the reply above them.", ""]
    for name, what, inputs in WALKS:
        command = " ".join(shlex.quote(i) for i in inputs)
        lines += [f"## {name}", "", what, "", "```sh",
                  f"printf '%s\\n' {command} | coach --store memory chat", "```", "",
                  "```text", run(inputs).rstrip(), "```", ""]
    (ROOT / "docs" / "walkthroughs.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
