"""Flow actions of the rehearsal coach: feedback on a planned line, and the practice partner.

What the person wrote stays in their slots; these actions add the coach's reading of it
(scores, the best version so far) and the partner's replies, worded from coaching.yaml.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from bot.coach.coaching import Coaching
from bot.coach.feedback import Feedback, analyse
from bot.flowlang.registry import REGISTRY

if TYPE_CHECKING:
    from bot.engine import StepContext

SHOWN_FINDINGS = 2
MIN_MOOD, MAX_MOOD = -3, 2
ROLEPLAY_SLOTS = ("rp_style", "rp_turn", "rp_mood", "rp_calm", "rp_kinds")
FEEDBACK_SLOTS = ("opener_verdict", "opener_score", "opener_first_score", "best_opener",
                  "best_score")


def _coaching(ctx: StepContext) -> Coaching | None:
    coaching = ctx.services.get("coaching")
    return coaching if isinstance(coaching, Coaching) else None


def _int(ctx: StepContext, slot: str, default: int = 0) -> int:
    try:
        return int(ctx.session.slots.get(slot, default))
    except ValueError:
        return default


def feedback_lines(fb: Feedback, coaching: Coaching) -> list[str]:
    """The short version a phone screen can hold: verdict, two findings, a rewrite."""
    lines = [coaching.say("feedback", "verdict", fb.verdict, score=fb.score)]
    shown = []
    for finding in fb.findings[:SHOWN_FINDINGS]:
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


@REGISTRY.action("coach_feedback", "slot", "feedback on the line kept in this slot",
                 writes=FEEDBACK_SLOTS)
def coach_feedback(ctx: StepContext, slot: str) -> None:
    coaching = _coaching(ctx)
    slots = ctx.session.slots
    text = slots.get(slot, "")
    if coaching is None or not text:
        return
    fb = analyse(text)
    for line in feedback_lines(fb, coaching):
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


@REGISTRY.action("coach_reset", "none", "start a new rehearsal: forget earlier scores",
                 writes=FEEDBACK_SLOTS)
def coach_reset(ctx: StepContext, _: Any) -> None:
    for slot in (*FEEDBACK_SLOTS, *ROLEPLAY_SLOTS):
        ctx.session.slots.pop(slot, None)


# -- the practice partner ------------------------------------------------------------------

def _rng(ctx: StepContext, salt: str) -> random.Random:
    """Varied but repeatable: the same person at the same step hears the same line."""
    return random.Random(f"{ctx.session.user_key}:{ctx.session.step}:{salt}")


def _mood_name(mood: int) -> str:
    return "tense" if mood <= -1 else "guarded" if mood == 0 else "opening"


def _partner_says(ctx: StepContext, coaching: Coaching, style: str, mood: int) -> None:
    lines = coaching.styles[style].lines[_mood_name(mood)]
    line = _rng(ctx, "line").choice(lines)
    ctx.say(coaching.texts[("roleplay", "partner_prefix")] + line)


@REGISTRY.action("roleplay_start", "none", "the partner answers the opener, in the style "
                 "kept in rp_pick (or at random)", writes=ROLEPLAY_SLOTS)
def roleplay_start(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    if coaching is None:
        return
    slots = ctx.session.slots
    style = slots.get("rp_pick", "random")
    if style not in coaching.styles:
        style = _rng(ctx, "style").choice(sorted(coaching.styles))
    opener = slots.get("best_opener") or slots.get("my_opener") or ""
    verdict = analyse(opener).verdict if opener else "almost"
    mood = coaching.styles[style].start_mood + coaching.mood_change[verdict]
    mood = max(MIN_MOOD, min(MAX_MOOD, mood))
    slots.update(rp_style=style, rp_turn="0", rp_mood=str(mood), rp_calm="0", rp_kinds="")
    ctx.say(coaching.say("roleplay", "intro", style=coaching.styles[style].label))
    _partner_says(ctx, coaching, style, mood)


@REGISTRY.action("roleplay_turn", "none", "the partner reacts to rp_reply, then one tip",
                 writes=ROLEPLAY_SLOTS)
def roleplay_turn(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    slots = ctx.session.slots
    style = slots.get("rp_style", "")
    if coaching is None or style not in coaching.styles:
        return
    fb = analyse(slots.get("rp_reply", ""))
    mood = max(MIN_MOOD, min(MAX_MOOD, _int(ctx, "rp_mood") + coaching.mood_change[fb.verdict]))
    kinds = [k for k in slots.get("rp_kinds", "").split(",") if k]
    kinds += [f.kind for f in fb.findings if f.kind in coaching_kinds(coaching)]
    slots.update(rp_mood=str(mood), rp_turn=str(_int(ctx, "rp_turn") + 1),
                 rp_calm=str(_int(ctx, "rp_calm") + (fb.verdict == "calm")),
                 rp_kinds=",".join(kinds[-40:]))
    _partner_says(ctx, coaching, style, mood)
    tip_prefix = coaching.texts[("roleplay", "tip_prefix")]
    if mood <= MIN_MOOD:
        tip = coaching.texts[("roleplay", "tips", "take_a_break")]
    elif fb.verdict in ("harsh", "almost"):
        tip = coaching.texts[("roleplay", "tips", fb.verdict)]
    else:
        tip = coaching.texts[("roleplay", "tips", "by_style", style)]
    ctx.say(tip_prefix + tip)


def coaching_kinds(coaching: Coaching) -> set[str]:
    return {at[-1] for at in coaching.texts if at[:3] == ("roleplay", "summary", "carry")}


@REGISTRY.condition("roleplay_done", "none", "the practice has had its turns")
def roleplay_done(ctx: StepContext, _: Any) -> bool:
    coaching = _coaching(ctx)
    turns = coaching.max_turns if coaching else 4
    return _int(ctx, "rp_turn") >= turns


@REGISTRY.action("roleplay_summary", "none", "turns, calm lines, opener score, one thing to "
                 "carry into the real talk")
def roleplay_summary(ctx: StepContext, _: Any) -> None:
    coaching = _coaching(ctx)
    if coaching is None:
        return
    slots = ctx.session.slots
    ctx.say(coaching.say("roleplay", "summary", "lines", turns=_int(ctx, "rp_turn"),
                         calm=_int(ctx, "rp_calm")))
    first, best = slots.get("opener_first_score"), slots.get("best_score")
    if first is not None and best is not None and first != best:
        ctx.say(coaching.say("roleplay", "summary", "opener", first=first, best=best))
    kinds = Counter(k for k in slots.get("rp_kinds", "").split(",") if k)
    focus = kinds.most_common(1)[0][0] if kinds else "none"
    ctx.say(coaching.texts[("roleplay", "summary", "carry_prefix")]
            + coaching.texts[("roleplay", "summary", "carry", focus)])
