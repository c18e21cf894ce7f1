"""Everything stored about a person, readable and as JSON, for /export.

The JSON holds every field of the stored session; the text says the same in plain words,
since on the console it is all the person gets. Every sentence comes from
flows/core/messages.yaml (`export_*`, `concern_*`), like the rest of what the bot says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.flowlang.catalog import Catalog
from bot.messages import Attachment
from bot.session import SEEN_UPDATES_KEPT, Position, Session
from bot.templates import render
from bot.texts import Texts

CONCERN_SLOT = "safety_concern"  # set by flows/safety.yaml; its meaning is `concern_<value>`
STEP_SUMMARY = 80  # characters of a step's first message in its one-line summary


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
        "answers": [
            {"slot": slot, "question": render(catalog.questions.get(slot, ""), session.slots),
             "answer": value}
            for slot, value in session.slots.items()  # in the order they were first given
        ],
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
    }


def export_text(data: dict, texts: Texts) -> str:
    """The export in plain words, in the order a person would look for things."""
    lines = [texts.get("export_header"), "",
             texts.get("export_position", title=data["position"]["flow_title"])]
    empty = texts.get("export_empty")
    answers = [a for a in data["answers"] if a["question"]]
    notes = [a for a in data["answers"] if not a["question"] and a["slot"] != CONCERN_SLOT]
    if not answers and not notes:
        lines += ["", empty]
    for item in answers:
        lines += ["", f"• {item['question']}", f"  → {item['answer']}"]
    if notes:
        lines += ["", texts.get("export_notes")]
        lines += [f"  • {a['slot'].replace('_', ' ')}: {a['answer']}" for a in notes]
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
    if data.get("update_ids_remembered"):
        lines += ["", texts.get("export_seen", kept=SEEN_UPDATES_KEPT,
                                ids=", ".join(data["update_ids_remembered"]))]
    lines += ["", texts.get("export_dates", user=data["user"], created=data["created_at"],
                            updated=data["updated_at"])]
    return "\n".join(lines)


def export_attachment(data: dict) -> Attachment:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Attachment("conversation-coach-export.json", "application/json", body)
