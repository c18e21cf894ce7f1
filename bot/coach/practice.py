"""The practice partner: answers what was said, in the chosen style and mood, with the
person's own words where a line has room for them; one tip after each reply; a summary.

The partner plays the role opposite `rp_role`: someone who was hurt (talk) practises with the
partner who crossed a line, someone who crossed a line (repair) with the partner who was hurt.
A practice remembers the lines said (`rp_used`) so none comes twice, and the last tip
(`rp_tip`) so the same advice never comes twice in a row.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from bot.coach.actions import analyse, owning_slips
from bot.coach.coaching import TIPPED_MOVES, Coaching
from bot.coach.feedback import Feedback
from bot.coach.moves import read_move
from bot.coach.partner import PartnerBook, mood_name, service_name
from bot.coach.their_words import find_name, quote
from bot.flowlang.registry import Registry
from bot.person_words import SERVICE as PERSON_WORDS
from bot.person_words import PersonWords

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

# Added to the coach's registry by the composition root (bot/app.py).
entries = Registry()

MIN_MOOD, MAX_MOOD = -3, 2
ROLEPLAY_SLOTS = ("rp_style", "rp_turn", "rp_mood", "rp_calm", "rp_kinds", "rp_used",
                  "rp_tip", "rp_tips", "rp_best", "rp_best_score", "rp_worked", "rp_unread")
RECENT_TIPS = 3  # a tip given in the last this-many turns is passed over if another fits
# moves whose tip says what to change, even when the line read calm
CORRECTED_MOVES = frozenset({"accusation", "sarcasm", "but_apology", "non_apology", "short"})
# where each role's own words about what happened are kept, in the person's voice
BEHAVIOUR_SLOTS = {"hurt": "behavior", "crossed": "repair_what"}
BEHAVIOUR_WORDS = 12  # longer than this, what happened reads badly inside a partner line
_SUBJECTS = frozenset({"i", "i'm", "i've", "i'd", "i'll", "you", "you're", "you've", "he",
                       "she", "they", "we", "it", "that"})


def _role(ctx: StepContext) -> str:
    return "crossed" if ctx.session.slots.get("rp_role") == "crossed" else "hurt"


def _int(ctx: StepContext, slot: str, default: int = 0) -> int:
    try:
        return int(ctx.session.slots.get(slot, default))
    except ValueError:
        return default


def _parts(ctx: StepContext) -> tuple[Coaching, PartnerBook] | None:
    coaching = ctx.services.get("coaching")
    book = ctx.services.get(service_name(_role(ctx)))
    if isinstance(coaching, Coaching) and isinstance(book, PartnerBook):
        return coaching, book
    return None


def _rng(ctx: StepContext, salt: str) -> random.Random:
    """Varied but repeatable: the same person at the same step hears the same line."""
    return random.Random(f"{ctx.session.user_key}:{ctx.session.step}:{salt}")


def _what_happened(ctx: StepContext, behaviour: str) -> str | None:
    """What happened as the partner would say it ("me texting my ex"), when it reads as a
    thing that can sit inside a partner line; a whole clause ("I text my ex") does not."""
    words = ctx.services.get(PERSON_WORDS)
    if not behaviour or not isinstance(words, PersonWords) or not words.reads(ctx.session.lang):
        return None  # another language's words are not turned round with English ones
    theirs = words.partner_view(behaviour.strip().rstrip(".!"))
    parts = theirs.split()
    if not parts or len(parts) > BEHAVIOUR_WORDS:
        return None
    if parts[0].casefold() in _SUBJECTS and not (len(parts) > 1 and parts[1].endswith("ing")):
        return None
    return theirs


def _known_words(ctx: StepContext, coaching: Coaching, said: str) -> dict[str, str]:
    """What a partner line may quote: the person's last words, a name they typed, what
    happened."""
    slots = ctx.session.slots
    known = {"quote": quote(said)} if said.strip() else {}
    behaviour = slots.get(BEHAVIOUR_SLOTS[_role(ctx)], "")
    what = _what_happened(ctx, behaviour)
    if what:
        known["behavior"] = what
    name = find_name([said, slots.get("best_opener", ""), behaviour], coaching.not_names)
    if name:
        known["name"] = name
    return known


def _partner_says(ctx: StepContext, coaching: Coaching, book: PartnerBook, move: str,
                  said: str) -> None:
    """A line for this move at the partner's mood, never one already said."""
    slots = ctx.session.slots
    used = [k for k in slots.get("rp_used", "").split(",") if k]
    known = _known_words(ctx, coaching, said)
    line = book.line(slots["rp_style"], move, mood_name(_int(ctx, "rp_mood")), set(used),
                     known, _rng(ctx, "line"))
    slots["rp_used"] = ",".join([*used, line.key])
    text = line.text
    for word, value in known.items():
        text = text.replace("${" + word + "}", value)
    ctx.say(coaching.texts[("roleplay", "partner_prefix")] + text)


def _read(ctx: StepContext, coaching: Coaching, text: str) -> tuple[Feedback, str, list[str]]:
    """The coach's reading of a practice line, its move, and what turns an apology into a
    defence (for the one who crossed a line)."""
    fb = analyse(ctx, text, "practice")
    # the move is read from the words the rules point at; a resemblance (no words) colours
    # the verdict and the partner's mood, never what kind of thing was said
    kinds = [f.kind for f in fb.findings if f.end > f.start]
    move = (read_move(text, kinds, coaching.moves, fb.positives) if coaching.moves
            else "other")
    slips = owning_slips(text, coaching) if _role(ctx) == "crossed" else []
    if "but" in slips and move == "apology":
        move = "but_apology"
    return fb, move, slips


def _new_mood(ctx: StepContext, coaching: Coaching, verdict: str, move: str) -> int:
    change = coaching.mood_by_move.get(move, coaching.mood_change[verdict])
    return max(MIN_MOOD, min(MAX_MOOD, _int(ctx, "rp_mood") + change))


@entries.action("roleplay_start", "none", "the partner answers the opener, in the style "
                 "kept in rp_pick (or at random), as the role opposite rp_role",
                 writes=ROLEPLAY_SLOTS)
def roleplay_start(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is None:
        return
    coaching, book = parts
    slots = ctx.session.slots
    style = slots.get("rp_pick", "random")
    if style not in book.styles:
        style = _rng(ctx, "style").choice(sorted(book.styles))
    opener = slots.get("best_opener") or slots.get("my_opener") or ""
    verdict = analyse(ctx, opener).verdict if opener else "almost"
    mood = book.styles[style].start_mood + coaching.mood_change[verdict]
    for slot in ROLEPLAY_SLOTS:
        slots.pop(slot, None)
    slots.update(rp_style=style, rp_turn="0", rp_calm="0", rp_kinds="",
                 rp_mood=str(max(MIN_MOOD, min(MAX_MOOD, mood))))
    ctx.say(coaching.say("roleplay", "intro", style=book.styles[style].label))
    _partner_says(ctx, coaching, book, "opener", opener)


def _tip(ctx: StepContext, coaching: Coaching, fb: Feedback, move: str, slips: list[str],
         mood: int) -> str:
    """The most fitting tip that was not the last one given."""
    role, style = _role(ctx), ctx.session.slots.get("rp_style", "")
    candidates: list[tuple[str, ...]] = []
    if mood <= MIN_MOOD:
        candidates.append(("take_a_break",))
    candidates += [(slip,) for slip in slips]
    if not fb.read:  # nothing read in the line: how this partner tends to react, no more
        candidates += [("by_style", style)]
    elif fb.verdict != "calm" or move in CORRECTED_MOVES:
        # what to change comes first; how this partner tends to react, after
        verdict = [(fb.verdict,)] if fb.verdict != "calm" else []
        candidates += [("by_move", move), *verdict, ("by_style", style)]
    else:
        candidates += [("by_style", style), ("by_move", move)]
    if fb.read:  # praise or a nudge only for a line the coach could read
        candidates += [("steady",), ("almost",)]
    candidates = [c for c in candidates if c[0] != "by_move" or c[1] in TIPPED_MOVES]
    tips = [coaching.tip(role, *where) for where in candidates]
    if not fb.read:
        tips.append(coaching.texts[("roleplay", "unread_tip")])
    recent = [t for t in ctx.session.slots.get("rp_tips", "").split("\n") if t]
    last = ctx.session.slots.get("rp_tip")
    # the most fitting tip not given lately; failing that, one that was not the last
    for allowed in (lambda t: t not in recent, lambda t: t != last):
        for tip in tips:
            if allowed(tip):
                return tip
    return tips[-1] if not fb.read else coaching.tip(role, "steady")


def _remember_best(ctx: StepContext, fb: Feedback, text: str) -> None:
    slots = ctx.session.slots
    if fb.verdict != "harsh" and fb.score > _int(ctx, "rp_best_score", -1):
        slots.update(rp_best=text, rp_best_score=str(fb.score),
                     rp_worked=",".join(fb.positives))


@entries.action("roleplay_turn", "none", "the partner answers rp_reply (what kind of thing "
                 "it was, in the partner's mood), then one tip", writes=ROLEPLAY_SLOTS)
def roleplay_turn(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    slots = ctx.session.slots
    if parts is None or slots.get("rp_style") not in parts[1].styles:
        return
    coaching, book = parts
    reply = slots.get("rp_reply", "")
    fb, move, slips = _read(ctx, coaching, reply)
    verdict = "harsh" if slips else fb.verdict  # a defence lands like a harsh line
    mood = _new_mood(ctx, coaching, verdict, move)
    kinds = [k for k in slots.get("rp_kinds", "").split(",") if k]
    kinds += slips + [f.kind for f in fb.findings if f.kind in coaching_kinds(coaching)]
    slots.update(rp_mood=str(mood), rp_turn=str(_int(ctx, "rp_turn") + 1),
                 rp_calm=str(_int(ctx, "rp_calm") + (verdict == "calm")),
                 rp_kinds=",".join(kinds[-40:]))
    if not fb.read:
        slots["rp_unread"] = str(_int(ctx, "rp_unread") + 1)
    elif not slips:
        _remember_best(ctx, fb, reply)
    _partner_says(ctx, coaching, book, move, reply)
    tip = _tip(ctx, coaching, fb, move, slips, mood)
    slots["rp_tip"] = tip
    recent = [t for t in slots.get("rp_tips", "").split("\n") if t]
    slots["rp_tips"] = "\n".join([*recent, tip][-RECENT_TIPS:])
    ctx.say(coaching.texts[("roleplay", "tip_prefix")] + tip)


def coaching_kinds(coaching: Coaching) -> set[str]:
    return {at[-1] for at in coaching.texts if at[:3] == ("roleplay", "summary", "carry")}


@entries.condition("roleplay_done", "none", "the practice has had its turns")
def roleplay_done(ctx: StepContext, _: Any) -> bool:
    coaching = ctx.services.get("coaching")
    turns = coaching.max_turns if isinstance(coaching, Coaching) else 8
    return _int(ctx, "rp_turn") >= turns


@entries.action("roleplay_summary", "none", "turns and calm lines, the best line quoted, "
                 "one thing that worked and one to change")
def roleplay_summary(ctx: StepContext, _: Any) -> None:
    coaching = ctx.services.get("coaching")
    if not isinstance(coaching, Coaching):
        return
    slots = ctx.session.slots
    turns = _int(ctx, "rp_turn")
    if not turns:
        lines = [coaching.texts[("roleplay", "summary", "no_turns")]]
    elif _int(ctx, "rp_unread"):  # calm lines are counted only where the coach could read
        lines = [coaching.say("roleplay", "summary", "lines_unread", turns=turns)]
    else:
        lines = [coaching.say("roleplay", "summary", "lines", turns=turns,
                              calm=_int(ctx, "rp_calm"))]
    first, best = slots.get("opener_first_score"), slots.get("best_score")
    if first is not None and best is not None and first != best:
        lines.append(coaching.say("roleplay", "summary", "opener", first=first, best=best))
    if not turns:
        ctx.say("\n".join(lines))
        return
    if slots.get("rp_best"):
        lines.append(coaching.say("roleplay", "summary", "best", line=quote(slots["rp_best"], 40,
                                                                              whole=True)))
    worked = [coaching.texts[("feedback", "positives", p)]
              for p in slots.get("rp_worked", "").split(",")
              if ("feedback", "positives", p) in coaching.texts]
    lines.append(coaching.say("roleplay", "summary", "worked", worked=worked[0]) if worked
                 else coaching.texts[("roleplay", "summary", "worked_default")])
    kinds = Counter(k for k in slots.get("rp_kinds", "").split(",") if k)
    focus = kinds.most_common(1)[0][0] if kinds else "none"
    carry = ("roleplay", "summary", "carry", focus)
    if _role(ctx) == "crossed" and ("roleplay", "summary", "carry_owning", focus) in coaching.texts:
        carry = ("roleplay", "summary", "carry_owning", focus)
    prefix = "keep_prefix" if focus == "none" else "carry_prefix"
    if focus == "none" and _int(ctx, "rp_unread"):  # nothing read: no praise for calm
        lines.append(coaching.texts[("roleplay", "summary", "carry_unread")])
    else:
        lines.append(coaching.texts[("roleplay", "summary", prefix)]
                     + coaching.texts.get(carry, coaching.texts[("roleplay", "summary",
                                                                 "carry", "none")]))
    ctx.say("\n".join(lines))
