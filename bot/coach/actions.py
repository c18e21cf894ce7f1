"""Flow actions of the rehearsal coach: feedback on a planned line, answers gathered to
share, and the check that keeps watching a partner out of what is shared.

What the person wrote stays in their slots; these actions add the coach's reading of it
(scores, the best version so far), worded from coaching.yaml. The practice partner is in
bot/coach/practice.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.coach import feedback, feedback_rules
from bot.coach.coaching import Coaching
from bot.coach.feedback import Feedback
from bot.coach.feedback_text import Finding
from bot.flowlang.registry import Registry
from bot.quotes import straighten
from bot.setting import ROLE_SLOT, ROLES, setting_for
from bot.understanding.learned import LearnedReader

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

# Added to the coach's registry by the composition root (bot/app.py).
entries = Registry()

SHOWN_FINDINGS = 2
FEEDBACK_SLOTS = ("opener_verdict", "opener_score", "opener_first_score", "best_opener",
                  "best_score")


def _coaching(ctx: StepContext) -> Coaching | None:
    coaching = ctx.services.get("coaching")
    return coaching if isinstance(coaching, Coaching) else None


def analyse(ctx: StepContext, text: str, context: str = "rehearsal", *,
            learned_too: bool = True) -> Feedback:
    """The coach's reading of a line, with the rules loaded with these flows, for the person
    speaking (the `role` slot) where they typed it; `learned_too=False` for decisions that
    must rest on words the rules point at, never on a resemblance."""
    rules = ctx.services.get(feedback_rules.SERVICE)
    learned = ctx.services.get(feedback.LEARNED) if learned_too else None
    reader = learned if isinstance(learned, LearnedReader) else (
        feedback.shipped_learned() if learned_too else None)
    known = rules if isinstance(rules, feedback_rules.FeedbackRules) else None
    return feedback.analyse(text, known,
                            setting_for(ctx.session.slots, context, ctx.session.lang), reader)


def _int(ctx: StepContext, slot: str, default: int = 0) -> int:
    try:
        return int(ctx.session.slots.get(slot, default))
    except ValueError:
        return default


def _distinct_kinds(findings: list[Finding]) -> list[Finding]:
    """Two different things to change teach more than the same one twice."""
    seen: set[str] = set()
    first = [f for f in findings if not (f.kind in seen or seen.add(f.kind))]
    return first + [f for f in findings if f not in first]


def feedback_lines(fb: Feedback, coaching: Coaching, role: str | None = None) -> list[str]:
    """The short version a phone screen can hold: verdict, two findings, a rewrite."""
    lines = [coaching.say("feedback", "verdict", fb.verdict, score=fb.score)]
    if fb.verdict == "harsh" and role in ROLES:
        lines[0] += " " + coaching.say("feedback", "harsh_note", role)
    shown = []
    for finding in _distinct_kinds(fb.findings)[:SHOWN_FINDINGS]:
        if finding.end > finding.start:
            shown.append(coaching.say("feedback", "finding", excerpt=finding.excerpt,
                                      explanation=finding.explanation,
                                      suggestion=finding.suggestion))
        else:
            shown.append(coaching.say("feedback", "missing", explanation=finding.explanation,
                                      suggestion=finding.suggestion))
    if shown:
        lines.append("\n".join(shown))
    strengths = [coaching.texts[("feedback", "positives", p)] for p in fb.positives
                 if ("feedback", "positives", p) in coaching.texts]
    if strengths and fb.verdict != "harsh":
        lines.append(coaching.say("feedback", "strengths", strengths="; ".join(strengths)))
    if fb.verdict != "calm" and fb.rewrite:
        lines.append(coaching.say("feedback", "rewrite", rewrite=fb.rewrite))
    return lines


@entries.action("coach_feedback", "slot", "feedback on the line kept in this slot",
                 writes=FEEDBACK_SLOTS)
def coach_feedback(ctx: StepContext, slot: str) -> None:
    coaching = _coaching(ctx)
    slots = ctx.session.slots
    text = slots.get(slot, "")
    if coaching is None or not text:
        return
    fb = analyse(ctx, text)
    if not fb.read:  # a language the rules cannot read: say so, score nothing
        ours = text == slots.get("opener")  # the flow's own opener, kept as it was
        ctx.say(coaching.say("feedback", "unread_template" if ours else "unread_language"))
        slots["best_opener"] = text
        return
    for line in feedback_lines(fb, coaching, slots.get(ROLE_SLOT)):
        ctx.say(line)
    previous = slots.get("opener_score")
    if previous is not None and fb.score > int(previous):
        ctx.say(coaching.say("feedback", "better", before=previous, after=fb.score))
    slots["opener_verdict"] = fb.verdict
    slots["opener_score"] = str(fb.score)
    slots.setdefault("opener_first_score", str(fb.score))
    if fb.score >= _int(ctx, "best_score", -1):
        if previous is not None and "best_opener" in slots and slots["best_opener"] != text:
            ctx.say(coaching.say("feedback", "kept_best"))
        slots["best_opener"] = text
        slots["best_score"] = str(fb.score)


@entries.action("coach_reset", "none", "start a new rehearsal: forget earlier scores",
                 writes=FEEDBACK_SLOTS)
def coach_reset(ctx: StepContext, _: Any) -> None:
    for slot in (*FEEDBACK_SLOTS, *[k for k in ctx.session.slots if k.startswith("rp_")
                                     and k not in ("rp_role", "rp_pick")]):
        ctx.session.slots.pop(slot, None)


# -- what turns an apology into a defence ----------------------------------------------------

def _has_phrase(text: str, phrase: str) -> re.Match[str] | None:
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text)


def owning_slips(text: str, coaching: Coaching) -> list[str]:
    """What turns an apology into a defence: a "but" after "sorry", or playing it down."""
    norm = straighten(text).casefold()
    slips = []
    for word in coaching.owning.get("apology_words", ()):
        found = _has_phrase(norm, word)
        if found and _has_phrase(norm[found.end():], "but"):
            slips.append("but")
            break
    if any(_has_phrase(norm, phrase) for phrase in coaching.owning.get("excuses", ())):
        slips.append("excuse")
    return slips


# -- answers as one message to share ---------------------------------------------------------

@entries.action("compose_answers", "slot_values", "the answers in these slots as one list to "
                 "share, in this order (`{slot: label}`), kept in `answers_text`; unanswered "
                 "ones are named once as still to talk about", writes=("answers_text",))
def compose_answers(ctx: StepContext, labels: dict[str, str]) -> None:
    coaching = _coaching(ctx)
    slots = ctx.session.slots
    lines = [f"• {label}: {slots[slot]}" for slot, label in labels.items() if slots.get(slot)]
    still = [str(label) for slot, label in labels.items() if not slots.get(slot)]
    if still and coaching is not None:
        topics = "; ".join([still[0], *(t[:1].lower() + t[1:] for t in still[1:])])
        lines.append(coaching.say("answers", "still_open", topics=topics))
    slots["answers_text"] = "\n".join(lines)


# -- keeping watch is not openness ----------------------------------------------------------

@entries.condition("slot_policing", "slot", "the text in this slot describes watching or "
                    "checking the partner (their phone, messages, location)")
def slot_policing(ctx: StepContext, slot: str) -> bool:
    text = ctx.session.slots.get(slot, "")
    # The flow sets such a line aside, so only the rules' words decide, never a resemblance;
    # in a language the coach cannot judge, its watching words for that language.
    rules = ctx.services.get(feedback_rules.SERVICE)
    return bool(text) and feedback.describes_watching(
        text, rules if isinstance(rules, feedback_rules.FeedbackRules) else None,
        setting_for(ctx.session.slots, "boundary", ctx.session.lang))


# -- after a safety concern: no way back into a rehearsal -------------------------------------

@entries.action("leave_flow", "flow", "forget every way back into this flow: the step to "
                 "return to, /back and \"Continue where I left off\"")
def leave_flow(ctx: StepContext, flow: str) -> None:
    session = ctx.session
    session.calls = [p for p in session.calls if p.flow != flow]
    session.back = [p for p in session.back if p.flow != flow]
    if session.last is not None and session.last.flow == flow:
        session.last = None


@entries.condition("can_return", "none", "a flow handed over here and waits to take the "
                    "person back (so `return: true` does not just lead to the menu)")
def can_return(ctx: StepContext, _: Any) -> bool:
    return any(ctx.valid(p) for p in ctx.session.calls)
