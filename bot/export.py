"""Everything stored about a person, readable and as JSON, for /export.

The JSON holds every field of the stored session; the text says the same in plain words,
since on the console it is all the person gets. Every sentence comes from
flows/core/messages.yaml (`export_*`, `concern_*`), like the rest of what the bot says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.checkins.actions import checkins_text
from bot.checkins.progress import progress_text
from bot.checkins.record import CheckinBook
from bot.checkins.texts import SERVICE as CHECKIN_TEXTS
from bot.checkins.texts import CheckinTexts
from bot.flowlang.catalog import Catalog
from bot.messages import Attachment
from bot.session import SEEN_UPDATES_KEPT, Position, Session
from bot.templates import render
from bot.texts import Texts

CONCERN_SLOT = "safety_concern"  # set by flows/safety.yaml; its meaning is `concern_<value>`
HELP_SLOT = "help_for"  # which help lines to show again; told by the concern when the same
STEP_SUMMARY = 80  # characters of a step's first message in its one-line summary
# The practice's working notes (turns, mood, lines said, last tips): one plain line in the
# text, every value in the JSON. The best line and the role are told on their own.
WORKING_PREFIX = "rp_"
TOLD_ON_THEIR_OWN = frozenset({"rp_best", "rp_role", "rp_reply"})


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _title(catalog: Catalog, flow_id: str) -> str:
    flow = catalog.flow(flow_id)
    return flow.spec.title if flow else flow_id


def _place(position: Position, catalog: Catalog) -> dict:
    return {"flow": position.flow, "flow_title": _title(catalog, position.flow),
            "state": position.state}


def _step(position: Position, session: Session, catalog: Catalog) -> dict:
    """A step in the /back history: where it was, a one-line summary, and the text it
    showed when that is kept (as /back shows it again; it may quote answers)."""
    place = _place(position, catalog)
    if position.shown:
        first = position.shown[0]
    else:
        flow = catalog.flow(position.flow)
        state = flow.spec.states.get(position.state) if flow else None
        missing = catalog.texts.get("missing_answer") if catalog.texts else "…"
        first = (render(state.say[0], session.slots, missing) if state and state.say
                 else position.state.replace("_", " "))
    first = " ".join(first.split())
    if len(first) > STEP_SUMMARY:
        first = first[:STEP_SUMMARY - 1].rstrip() + "…"
    place["summary"] = first
    place["text"] = list(position.shown) if position.shown is not None else None
    return place


def _concern_meaning(concern: str, texts: Texts | None) -> str:
    text_id = f"concern_{concern}"
    if texts is not None and text_id in texts.entries:
        return texts.get(text_id)
    return concern.replace("_", " ")


def _asked(slot: str, session: Session, catalog: Catalog) -> str:
    """The question the person saw for this answer (the step that asked it), or, for an
    answer kept before steps were remembered, the first step anywhere that asks for it."""
    flow_id, _, state_id = session.asked.get(slot, "").partition(".")
    flow = catalog.flow(flow_id) if flow_id else None
    state = flow.spec.states.get(state_id) if flow else None
    text = state.say[-1] if state and state.say else (
        "" if slot in session.asked else catalog.questions.get(slot, ""))
    return render(text, session.slots)


def _note(slot: str, value: str, texts: Texts | None) -> str:
    """A note in plain words: `note_<slot>_<value>`, else `note_<slot>` with the value."""
    entries = texts.entries if texts is not None else {}
    for text_id in (f"note_{slot}_{value}", f"note_{slot}"):
        if text_id in entries:
            return texts.get(text_id, value=value) if texts else value
    return f"{slot.replace('_', ' ')}: {value}"


def _answer(slot: str, value: str, session: Session, catalog: Catalog) -> dict:
    """An answer with the question that asked it, or a note in plain words. The practice's
    lines are notes: its prompt ("Your turn.") says nothing read on its own."""
    question = "" if slot.startswith(WORKING_PREFIX) else _asked(slot, session, catalog)
    item = {"slot": slot, "question": question, "answer": value}
    if not question:
        item["note"] = _note(slot, value, catalog.texts)
    return item


def export_data(session: Session, catalog: Catalog) -> dict:
    concern = session.slots.get(CONCERN_SLOT)
    return {
        "user": session.user_key,
        "created_at": _when(session.created_at),
        "updated_at": _when(session.updated_at),
        "position": {
            "flow": session.flow,
            "flow_title": _title(catalog, session.flow),
            "state": session.state,
        },
        "answers": [_answer(slot, value, session, catalog)
                    for slot, value in session.slots.items()],  # in the order first given
        "safety_concern": None if not concern else {
            "value": concern, "meaning": _concern_meaning(concern, catalog.texts)},
        # Kept, encrypted like everything else, while the coach checks in on safety.
        "held_answer": session.held,
        "steps_back": [_step(p, session, catalog) for p in session.back],
        "steps_back_remembered": len(session.back),
        "waiting_to_return_to": [_place(p, catalog) for p in reversed(session.calls)],
        "continue_from": _place(session.last, catalog) if session.last else None,
        # Kept so /resume can repeat the current step exactly; it may quote answers.
        "current_step_text": list(session.shown or ()),
        "flow_asked_for": session.wanted,
        "waiting_for": session.pending,
        "update_ids_remembered": list(session.seen),
        "steps_shown": session.step,
        "saves": session.version,
        # The check-ins asked for and the weeks answered, as kept, and the same in words.
        "checkins": session.checkins,
        "next_checkin_due": _when(session.due) if session.due is not None else None,
        "checkins_text": _checkins_text(session, catalog),
        "lang": session.lang,  # the language I speak with this person (bot/i18n/)
    }


def _checkins_text(session: Session, catalog: Catalog) -> str | None:
    texts = catalog.services.get(CHECKIN_TEXTS)
    if not session.checkins or not isinstance(texts, CheckinTexts):
        return None
    book = CheckinBook(session, texts.default_quiet)
    return "\n".join([texts.get("export_title"), checkins_text(book, texts),
                      progress_text(book.weeks, texts)])


def export_text(data: dict, texts: Texts) -> str:
    """The export in plain words, in the order a person would look for things."""
    lines = [texts.get("export_header"), "",
             texts.get("export_position", title=data["position"]["flow_title"])]
    empty = texts.get("export_empty")
    answers = [a for a in data["answers"] if a["question"]]
    concern = (data.get("safety_concern") or {}).get("value")
    notes = [a for a in data["answers"] if not a["question"] and a["slot"] != CONCERN_SLOT
             and not (a["slot"] == HELP_SLOT and a["answer"] == concern)]
    working = [a for a in notes if a["slot"].startswith(WORKING_PREFIX)
               and a["slot"] not in TOLD_ON_THEIR_OWN]
    notes = [a for a in notes if a not in working]
    if not answers and not notes:
        lines += ["", empty]
    for item in answers:
        lines += ["", f"• {item['question']}", f"  → {item['answer']}"]
    if notes or working:
        lines += ["", texts.get("export_notes")]
        lines += [f"  • {a['note']}" for a in notes]
    if working:
        lines += [f"  • {texts.get('export_working_notes')}"]
    if data.get("held_answer"):
        lines += ["", texts.get("export_held"), f"  → {data['held_answer']}"]
    if data.get("safety_concern"):
        lines += ["", texts.get("export_concern", meaning=data["safety_concern"]["meaning"])]
    if data.get("steps_back"):
        lines += ["", texts.get("export_steps")]
        lines += [f"  • {step['flow_title']}: {step['summary']}" for step in data["steps_back"]]
    if data.get("waiting_to_return_to"):
        places = ", ".join(f'"{p["flow_title"]}"' for p in data["waiting_to_return_to"])
        lines += ["", texts.get("export_calls", places=places)]
    resume, here = data.get("continue_from"), data["position"]
    if resume and (resume["flow"], resume["state"]) != (here["flow"], here["state"]):
        lines += ["", texts.get("export_resume", place=f'"{resume["flow_title"]}"')]
    if data.get("flow_asked_for"):
        lines += ["", texts.get("export_wanted", title=data["flow_asked_for"])]
    if data.get("waiting_for") == "delete":
        lines += ["", texts.get("export_pending_delete")]
    if data.get("checkins_text"):
        lines += ["", data["checkins_text"]]
    if data.get("update_ids_remembered"):
        lines += ["", texts.get("export_seen", kept=SEEN_UPDATES_KEPT,
                                ids=", ".join(data["update_ids_remembered"]))]
    if data.get("lang"):
        lines += ["", texts.get("export_language", language=texts.get("language_name"))]
    lines += ["", texts.get("export_dates", user=data["user"], created=data["created_at"],
                            updated=data["updated_at"])]
    return "\n".join(lines)


def export_attachment(data: dict) -> Attachment:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Attachment("conversation-coach-export.json", "application/json", body)
