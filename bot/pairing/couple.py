"""What one partner can do in couple mode, on the records of one message (Shared).

A pair record keeps, per person, whether they finished each topic and the answers they
chose to show (a copy made when they tapped "Show us both"); the agreements both accepted;
one open proposal to change them; and which notes each person has had. Nothing here reads
a partner's own session: only the pair record and the invite.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

from bot.checkins.record import SHARED_KINDS, CheckinBook
from bot.pairing.codes import code_hash, new_code
from bot.pairing.shared import Shared, blocked, invite_key, pair_key
from bot.pairing.together import Together
from bot.session import Session

INVITE_SECONDS = 48 * 3600
# Slots couple mode keeps in a person's session: forgotten when the pairing ends.
PAIR_SLOTS = ("pair_partner", "pair_topic", "pair_proposal")
CANT_USE, OWN_CODE, ALREADY_PAIRED, BLOCKED = "cant_use", "own_code", "already_paired", "blocked"


# -- invites -----------------------------------------------------------------------------------


def make_invite(shared: Shared, session: Session, name: str) -> str | None:
    """A fresh single-use code (the previous one, if any, stops working); None when no
    invite may be made: already paired, or a concern on record."""
    if blocked(session) or session.pair:
        return None
    cancel_invite(shared, session)
    code = new_code()
    digest = code_hash(code)
    assert digest is not None
    shared.put(invite_key(digest), {"inviter": shared.me, "name": name.strip(),
                                    "expires_at": shared.now + INVITE_SECONDS, "pair": None})
    session.invite = digest
    shared.new_code = code
    return code


def cancel_invite(shared: Shared, session: Session) -> None:
    if session.invite:
        shared.drop(invite_key(session.invite))
        session.invite = None


def join_problem(shared: Shared, session: Session, digest: str | None) -> str | None:
    """Why this code cannot be used by this person now (a text id), or None. A maker's
    concern reads exactly as a used or expired code: the reason is never told."""
    invite = shared.get(invite_key(digest)) if digest else None
    if invite is None or invite.get("pair") or invite["expires_at"] <= shared.now:
        return CANT_USE
    if invite["inviter"] == shared.me:
        return OWN_CODE
    if session.pair:
        return ALREADY_PAIRED
    if blocked(session):
        return BLOCKED
    if invite["inviter"] in shared.blocked_people:
        return CANT_USE
    return None


def inviter_name(shared: Shared, session: Session, together: Together) -> str:
    """The name the inviter chose to be called by, or "your partner"."""
    invite = shared.get(invite_key(session.joining)) if session.joining else None
    return (invite or {}).get("name") or together.partner


def accept(shared: Shared, session: Session) -> bool:
    """Join the invite this person is accepting: the invite is marked used first (a second
    use finds it taken), then the pair record is made."""
    digest, session.joining = session.joining, None
    if digest is None or join_problem(shared, session, digest) is not None:
        return False
    invite = shared.get(invite_key(digest))
    assert invite is not None
    pair_id = secrets.token_urlsafe(12)
    invite["pair"] = pair_id
    shared.put(invite_key(digest), invite)
    shared.put(pair_key(pair_id), {
        "people": [invite["inviter"], shared.me],
        "names": {invite["inviter"]: invite["name"], shared.me: ""},
        "topics": {}, "agreements": {}, "proposal": None, "told": {}})
    session.pair = pair_id
    return True


# -- the pairing ---------------------------------------------------------------------------------


def record(shared: Shared, session: Session) -> dict[str, Any] | None:
    return shared.get(pair_key(session.pair)) if session.pair else None


def partner_of(rec: dict[str, Any], me: str) -> str:
    return next(person for person in rec["people"] if person != me)


def partner_name(rec: dict[str, Any], me: str, together: Together) -> str:
    return rec["names"].get(partner_of(rec, me)) or together.partner


def side(rec: dict[str, Any], topic: str, person: str) -> dict[str, Any]:
    return rec["topics"].setdefault(topic, {}).setdefault(
        person, {"finished": False, "shown": None, "seen": False})


def end(shared: Shared, session: Session) -> None:
    """Leave the pairing: the whole shared record goes, so nothing of either answers is
    left for the other to see; each keeps their own answers in their own session."""
    if session.pair:
        shared.drop(pair_key(session.pair))
    forget(session)


def forget(session: Session) -> None:
    """This person is no longer paired: couple mode's slots go, and so do their check-ins
    on shared agreements and a "partner ready" note not yet sent."""
    session.pair = None
    for slot in PAIR_SLOTS:
        session.slots.pop(slot, None)
    book = CheckinBook(session)
    for kind in SHARED_KINDS:
        if book.scheduled(kind):
            book.stop(kind)


def erase(shared: Shared, session: Session) -> None:
    """/delete: the pairing and an open invite go with everything else."""
    end(shared, session)
    cancel_invite(shared, session)


def finish(shared: Shared, session: Session, topic: str) -> bool:
    """They reached the end of a topic's questions; True when paired."""
    rec = record(shared, session)
    if rec is None:
        return False
    mine = side(rec, topic, shared.me)
    if not mine["finished"]:
        mine["finished"] = True
        if both(rec, topic, "finished"):
            mark_told(rec, shared.me, f"ready:{topic}")  # they see "Show us both" right here
        shared.put(pair_key(session.pair or ""), rec)
    return True


def both(rec: dict[str, Any], topic: str, key: str) -> bool:
    sides = rec["topics"].get(topic, {})
    return all(sides.get(person, {}).get(key) for person in rec["people"])


def can_show(shared: Shared, session: Session, topic: str) -> bool:
    """Both finished and this person has not shown yet; never while sharing is paused for
    them (a concern on record)."""
    rec = record(shared, session)
    return (rec is not None and not blocked(session) and both(rec, topic, "finished")
            and side(rec, topic, shared.me)["shown"] is None)


def revealed(shared: Shared, session: Session, topic: str) -> bool:
    rec = record(shared, session)
    return rec is not None and both(rec, topic, "shown")


def show(shared: Shared, session: Session, together: Together, topic: str) -> None:
    """"Show us both": a copy of their answers now; once both have tapped it, the lines
    they answered the same go into their agreements."""
    rec = record(shared, session)
    spec = together.topics.get(topic)
    if rec is None or spec is None or blocked(session) or not both(rec, topic, "finished"):
        return
    side(rec, topic, shared.me)["shown"] = {
        slot: session.slots.get(slot, "") for slot in spec.questions}
    if both(rec, topic, "shown"):
        for slot in agreed(rec, topic, spec.questions):
            rec["agreements"].setdefault(slot, side(rec, topic, shared.me)["shown"][slot])
    elif side(rec, topic, partner_of(rec, shared.me))["shown"] is None and mark_told(
            rec, partner_of(rec, shared.me), f"partner_ready:{topic}"):
        shared.partner_news.append((partner_of(rec, shared.me), topic))
    shared.put(pair_key(session.pair or ""), rec)


def same(one: str, other: str) -> bool:
    """Two answers that say the same: the same words in any capitals and punctuation."""
    def words(text: str) -> list[str]:
        kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text)
        return kept.casefold().split()

    return bool(words(one)) and words(one) == words(other)


def agreed(rec: dict[str, Any], topic: str, questions: Any) -> list[str]:
    sides = [rec["topics"][topic][person]["shown"] for person in rec["people"]]
    return [slot for slot in questions
            if same(sides[0].get(slot, ""), sides[1].get(slot, ""))]


def mark_told(rec: dict[str, Any], me: str, mark: str) -> bool:
    """Remember a note was given to this person; False when it already was."""
    told = rec["told"].setdefault(me, [])
    if mark in told:
        return False
    told.append(mark)
    return True


# -- agreements ----------------------------------------------------------------------------------


def propose(shared: Shared, session: Session, slot: str, text: str | None) -> None:
    """A change to one agreed line (new words, or None to take it off), open until the
    partner accepts it; it replaces a change this person suggested before."""
    rec = record(shared, session)
    if rec is None or blocked(session) or proposal_for_me(shared, session):
        return
    number = (rec.get("proposals_made") or 0) + 1
    rec["proposals_made"] = number
    rec["proposal"] = {"by": shared.me, "slot": slot, "text": text, "number": number}
    shared.put(pair_key(session.pair or ""), rec)


def proposal_for_me(shared: Shared, session: Session) -> dict[str, Any] | None:
    rec = record(shared, session)
    proposal = rec.get("proposal") if rec else None
    return proposal if proposal and proposal["by"] != shared.me else None


def answer_proposal(shared: Shared, session: Session, yes: bool) -> None:
    """A change needs both: the partner's yes applies it; a "not yet" lets it go."""
    rec = record(shared, session)
    proposal = proposal_for_me(shared, session)
    if rec is None or proposal is None or blocked(session):
        return
    if yes and proposal["text"] is None:
        rec["agreements"].pop(proposal["slot"], None)
    elif yes:
        rec["agreements"][proposal["slot"]] = proposal["text"]
    rec["proposal"] = None
    shared.put(pair_key(session.pair or ""), rec)
