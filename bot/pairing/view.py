"""What couple mode says: the notes at a person's next message, the two sets side by side,
the status of each topic, the agreements, and what /export tells about sharing. Every
sentence comes from flows/coach/together.yaml."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

from bot.pairing import couple
from bot.pairing.shared import Shared, invite_key, pair_key
from bot.pairing.together import Together
from bot.safety.flow import SAFETY_FLOW
from bot.session import Session
from bot.templates import fill

SHORT = 140  # characters of one answer side by side: two sets must fit a phone screen


def short(text: str) -> str:
    return textwrap.shorten(text, SHORT, placeholder="…") if text else text


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def news(shared: Shared, session: Session, together: Together) -> list[str]:
    """Notes for this person's next message: their invite accepted or expired, the pairing
    ended, both finished a topic, both tapped "Show us both", a change suggested. Each is
    said once; nothing about what the partner is doing beyond that. While sharing is paused
    for this person (a concern on record), only that it is paused, once, and outside the
    safety steps: no nudges about the partner."""
    notes = _invite_news(shared, session, together)
    if not session.pair:
        return notes
    rec = couple.record(shared, session)
    if rec is None:
        couple.forget(session)
        return [*notes, together.text("ended")]
    me, told = shared.me, False
    if couple.blocked(session):
        if session.flow != SAFETY_FLOW and couple.mark_told(rec, me, "paused"):
            shared.put(pair_key(session.pair or ""), rec)
            notes.append(together.text("paused"))
        return notes
    for topic in together.topics.values():
        mine = couple.side(rec, topic.id, me)
        if couple.both(rec, topic.id, "shown"):
            text_id, mark = ("both_shown", f"shown:{topic.id}") if not mine["seen"] else ("", "")
        elif couple.both(rec, topic.id, "finished") and mine["shown"] is None:
            text_id, mark = "both_finished", f"ready:{topic.id}"
        else:
            text_id, mark = "", ""
        if text_id and couple.mark_told(rec, me, mark):
            notes.append(together.text(text_id, topic=topic.title))
            told = True
    proposal = rec.get("proposal")
    if proposal and proposal["by"] != me and couple.mark_told(
            rec, me, f"proposal:{proposal['number']}"):
        notes.append(together.text("proposal"))
        told = True
    if told:
        shared.put(pair_key(session.pair or ""), rec)
    return notes


def _invite_news(shared: Shared, session: Session, together: Together) -> list[str]:
    if not session.invite:
        return []
    key = invite_key(session.invite)
    invite = shared.get(key)
    if invite is not None and invite.get("pair"):
        shared.drop(key)
        session.invite = None
        if shared.get(pair_key(invite["pair"])) is None:
            return []  # they joined and left already: nothing to say
        session.pair = invite["pair"]
        return [together.text("accepted")]
    if invite is None or couple.blocked(session):
        couple.cancel_invite(shared, session)  # a concern on record withdraws it, quietly
        return []
    if invite["expires_at"] <= shared.now:
        couple.cancel_invite(shared, session)
        return [together.text("expired")]
    return []


def overview(shared: Shared, session: Session, together: Together) -> str:
    """Where each topic stands for this person, one line each."""
    rec = couple.record(shared, session)
    lines = []
    for topic in together.topics.values():
        status = "open"
        if rec is not None:
            mine = couple.side(rec, topic.id, shared.me)
            if couple.both(rec, topic.id, "shown"):
                status = "revealed"
            elif mine["shown"] is not None:
                status = "shown"
            elif couple.both(rec, topic.id, "finished"):
                status = "ready"
            elif mine["finished"]:
                status = "finished"
        lines.append(together.text(f"status_{status}", topic=capital(topic.title)))
    return "\n".join(lines)


def compare(shared: Shared, session: Session, together: Together, topic_id: str) -> list[str]:
    """The two sets side by side, where they agree and where to talk, with a way to start;
    or, until both tapped "Show us both", that it waits for the partner."""
    rec = couple.record(shared, session)
    topic = together.topics.get(topic_id)
    if rec is None or topic is None or not couple.both(rec, topic_id, "shown"):
        return [together.text("waiting")]
    me = shared.me
    mine = couple.side(rec, topic_id, me)
    theirs = couple.side(rec, topic_id, couple.partner_of(rec, me))["shown"]
    name = capital(couple.partner_name(rec, me, together))
    missing = "…"
    pairs = [together.text("answer_pair", question=label, partner=name,
                           mine=short(mine["shown"].get(slot, "")) or missing,
                           theirs=short(theirs.get(slot, "")) or missing)
             for slot, label in topic.questions.items()]
    agree = couple.agreed(rec, topic_id, topic.questions)
    talk = [label for slot, label in topic.questions.items() if slot not in agree]
    parts = ["\n".join([together.text("side_by_side", topic=capital(topic.title)), *pairs])]
    if agree:
        parts.append(together.text("agree", questions=", ".join(
            topic.questions[slot] for slot in agree)))
    if talk:
        opener = fill(topic.try_saying, {"question": talk[0].casefold()})
        parts.append(together.text("to_talk", questions=", ".join(talk)) + "\n"
                     + together.text("try_saying", opener=opener))
    if not mine["seen"]:
        mine["seen"] = True
        shared.put(pair_key(session.pair or ""), rec)
    return parts


def agreements(shared: Shared, session: Session, together: Together) -> str:
    rec = couple.record(shared, session)
    if rec is None:
        return together.text("not_paired")
    lines = [together.text("agreement", question=together.label(slot), text=text)
             for slot, text in rec["agreements"].items()]
    text = "\n".join([together.text("agreements_heading"), *lines]) if lines else \
        together.text("agreements_empty")
    proposal = rec.get("proposal")
    if proposal:
        whose = "mine" if proposal["by"] == shared.me else "theirs"
        removal = "_removal" if proposal["text"] is None else ""
        text += "\n\n" + together.text(f"proposal_{whose}{removal}",
                                       question=together.label(proposal["slot"]),
                                       text=proposal["text"] or "")
    return text


def export(shared: Shared, session: Session,
           together: Together) -> tuple[dict[str, Any], list[str]]:
    """What is shared and with whom, as data and as lines for /export."""
    data: dict[str, Any] = {"paired": bool(session.pair), "invite_open": None,
                            "joining_invite": bool(session.joining)}
    lines: list[str] = []
    invite = shared.get(invite_key(session.invite)) if session.invite else None
    if invite is not None:
        until = datetime.fromtimestamp(invite["expires_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        data["invite_open"] = {"until": until, "named_as": invite["name"] or together.partner}
        lines.append(together.text("export_invite", until=until))
    if session.joining:
        lines.append(together.text("export_joining"))
    rec = couple.record(shared, session)
    if rec is None:
        return data, lines
    me = shared.me
    partner = couple.partner_name(rec, me, together)
    named = rec["names"].get(me) or together.partner
    data.update(partner_named=partner, you_are_named=named, shown={},
                agreements=dict(rec["agreements"]), proposal=None)
    lines.append(together.text("export_heading", partner=partner, me=named))
    for topic in together.topics.values():
        shown = couple.side(rec, topic.id, me)["shown"]
        if shown is not None:
            data["shown"][topic.id] = shown
            answers = "; ".join(f"{topic.questions.get(s, s)}: {a or '…'}"
                                for s, a in shown.items())
            lines.append("  • " + together.text("export_answers", topic=topic.title,
                                                 answers=answers))
    if not data["shown"]:
        lines.append("  • " + together.text("export_nothing_shared"))
    if rec["agreements"]:
        lines.append("  • " + together.text("export_agreements", agreements="; ".join(
            f"{together.label(s)}: {t}" for s, t in rec["agreements"].items())))
    proposal = rec.get("proposal")
    if proposal and proposal["by"] == me:
        data["proposal"] = proposal
        lines.append("  • " + together.text("export_proposal", proposal=(
            f"{together.label(proposal['slot'])}: {proposal['text'] or '—'}")))
    return data, lines
