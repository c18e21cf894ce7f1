"""Flow actions of the rehearsal coach: feedback on a planned line, and the practice partner.

What the person wrote stays in their slots; these actions add the coach's reading of it
(scores, the best version so far) and the partner's replies, worded from coaching.yaml.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from bot.coach import feedback
from bot.coach.coaching import Coaching
from bot.coach.feedback import Feedback, FeedbackRules, Finding
from bot.flowlang.registry import Registry
from bot.quotes import straighten
from bot.setting import ROLE_SLOT, ROLES, setting_for
from bot.understanding.learned import LearnedReader

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

# Added to the coach's registry by the composition root (bot/app.py).
entries = Registry()

SHOWN_FINDINGS = 2
MIN_MOOD, MAX_MOOD = -3, 2
ROLEPLAY_SLOTS = ("rp_style", "rp_turn", "rp_mood", "rp_calm", "rp_kinds", "rp_line",
                  "rp_tip")
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
    rules = ctx.services.get(feedback.SERVICE)
    learned = ctx.services.get(feedback.LEARNED) if learned_too else None
    reader = learned if isinstance(learned, LearnedReader) else (
        feedback.shipped_learned() if learned_too else None)
    return feedback.analyse(text, rules if isinstance(rules, FeedbackRules) else None,
                            setting_for(ctx.session.slots, context), reader)


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
    for slot in (*FEEDBACK_SLOTS, *ROLEPLAY_SLOTS):
        ctx.session.slots.pop(slot, None)


# -- the practice partner ------------------------------------------------------------------
#
# The partner has a role opposite to the person practising, kept in `rp_role`: someone who
# was hurt (talk) practises with the partner who crossed a line, and someone who crossed a
# line (repair) practises with the partner who was hurt, who has their own lines and tips.

def _rng(ctx: StepContext, salt: str) -> random.Random:
    """Varied but repeatable: the same person at the same step hears the same line."""
    return random.Random(f"{ctx.session.user_key}:{ctx.session.step}:{salt}")


def _mood_name(mood: int) -> str:
    return "tense" if mood <= -1 else "guarded" if mood == 0 else "opening"


def _role(ctx: StepContext) -> str:
    return "crossed" if ctx.session.slots.get("rp_role") == "crossed" else "hurt"


def _partner_says(ctx: StepContext, coaching: Coaching, style: str, mood: int) -> None:
    """One of the style's lines for this mood, never the line the partner just said."""
    slots = ctx.session.slots
    lines = coaching.styles_for(_role(ctx))[style].lines[_mood_name(mood)]
    fresh = [line for line in lines if line != slots.get("rp_line")] or list(lines)
    line = _rng(ctx, "line").choice(fresh)
    slots["rp_line"] = line
    ctx.say(coaching.texts[("roleplay", "partner_prefix")] + line)


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


@entries.action("roleplay_start", "none", "the partner answers the opener, in the style "
                 "kept in rp_pick (or at random), as the role opposite rp_role",
                 writes=ROLEPLAY_SLOTS)
def roleplay_start(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    if coaching is None:
        return
    slots = ctx.session.slots
    styles = coaching.styles_for(_role(ctx))
    style = slots.get("rp_pick", "random")
    if style not in styles:
        style = _rng(ctx, "style").choice(sorted(styles))
    opener = slots.get("best_opener") or slots.get("my_opener") or ""
    verdict = analyse(ctx, opener).verdict if opener else "almost"
    mood = styles[style].start_mood + coaching.mood_change[verdict]
    mood = max(MIN_MOOD, min(MAX_MOOD, mood))
    slots.update(rp_style=style, rp_turn="0", rp_mood=str(mood), rp_calm="0", rp_kinds="")
    slots.pop("rp_line", None)
    slots.pop("rp_tip", None)
    ctx.say(coaching.say("roleplay", "intro", style=styles[style].label))
    _partner_says(ctx, coaching, style, mood)


@entries.action("roleplay_turn", "none", "the partner reacts to rp_reply, then one tip",
                 writes=ROLEPLAY_SLOTS)
def roleplay_turn(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    slots = ctx.session.slots
    style, role = slots.get("rp_style", ""), _role(ctx)
    if coaching is None or style not in coaching.styles_for(role):
        return
    reply = slots.get("rp_reply", "")
    fb = analyse(ctx, reply, "practice")
    slips = owning_slips(reply, coaching) if role == "crossed" else []
    # a defence lands like a harsh line on someone who was hurt
    verdict = "harsh" if slips else fb.verdict
    mood = max(MIN_MOOD, min(MAX_MOOD, _int(ctx, "rp_mood") + coaching.mood_change[verdict]))
    kinds = [k for k in slots.get("rp_kinds", "").split(",") if k]
    kinds += slips + [f.kind for f in fb.findings if f.kind in coaching_kinds(coaching)]
    slots.update(rp_mood=str(mood), rp_turn=str(_int(ctx, "rp_turn") + 1),
                 rp_calm=str(_int(ctx, "rp_calm") + (verdict == "calm")),
                 rp_kinds=",".join(kinds[-40:]))
    _partner_says(ctx, coaching, style, mood)
    if mood <= MIN_MOOD:
        tip = coaching.tip(role, "take_a_break")
    elif slips:
        tip = coaching.tip(role, slips[0])
    elif fb.verdict in ("harsh", "almost"):
        tip = coaching.tip(role, fb.verdict)
    else:
        tip = coaching.tip(role, "by_style", style)
        if tip == slots.get("rp_tip"):  # the same advice twice running reads as not listening
            tip = coaching.tip(role, "steady")
    slots["rp_tip"] = tip
    ctx.say(coaching.texts[("roleplay", "tip_prefix")] + tip)


def coaching_kinds(coaching: Coaching) -> set[str]:
    return {at[-1] for at in coaching.texts if at[:3] == ("roleplay", "summary", "carry")}


@entries.condition("roleplay_done", "none", "the practice has had its turns")
def roleplay_done(ctx: StepContext, _: Any) -> bool:
    coaching = _coaching(ctx)
    turns = coaching.max_turns if coaching else 4
    return _int(ctx, "rp_turn") >= turns


@entries.action("roleplay_summary", "none", "turns, calm lines, opener score, one thing to "
                 "carry into the real talk")
def roleplay_summary(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    if coaching is None:
        return
    slots = ctx.session.slots
    turns = _int(ctx, "rp_turn")
    if turns:
        ctx.say(coaching.say("roleplay", "summary", "lines", turns=turns,
                             calm=_int(ctx, "rp_calm")))
    else:
        ctx.say(coaching.texts[("roleplay", "summary", "no_turns")])
    first, best = slots.get("opener_first_score"), slots.get("best_score")
    if first is not None and best is not None and first != best:
        ctx.say(coaching.say("roleplay", "summary", "opener", first=first, best=best))
    if not turns:
        return
    kinds = Counter(k for k in slots.get("rp_kinds", "").split(",") if k)
    focus = kinds.most_common(1)[0][0] if kinds else "none"
    carry = ("roleplay", "summary", "carry", focus)
    if _role(ctx) == "crossed" and ("roleplay", "summary", "carry_owning", focus) in coaching.texts:
        carry = ("roleplay", "summary", "carry_owning", focus)
    ctx.say(coaching.texts[("roleplay", "summary", "carry_prefix")]
            + coaching.texts.get(carry, coaching.texts[("roleplay", "summary", "carry", "none")]))


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
    # The flow sets such a line aside, so only the rules' words decide, never a resemblance.
    return bool(text) and any(f.kind == "policing" for f in analyse(
        ctx, text, "boundary", learned_too=False).findings)


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
