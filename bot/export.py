"""Everything stored about a person, readable and as JSON, for /export."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.flowlang.catalog import Catalog
from bot.messages import Attachment
from bot.session import Session
from bot.templates import render


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def export_data(session: Session, catalog: Catalog) -> dict:
    flow = catalog.flow(session.flow)
    return {
        "user": session.user_key,
        "created_at": _when(session.created_at),
        "updated_at": _when(session.updated_at),
        "position": {
            "flow": session.flow,
            "flow_title": flow.spec.title if flow else session.flow,
            "state": session.state,
        },
        "answers": [
            {"slot": slot, "question": render(catalog.questions.get(slot, ""), session.slots),
             "answer": value}
            for slot, value in sorted(session.slots.items())
        ],
        "steps_back_remembered": len(session.back),
        # Kept so /resume can repeat the current step exactly; it may quote answers.
        "current_step_text": list(session.shown or ()),
        "flow_asked_for": session.wanted,
    }


def export_text(data: dict, header: str, position_line: str, empty: str) -> str:
    lines = [header, "", position_line]
    if not data["answers"]:
        lines += ["", empty]
    for item in data["answers"]:
        question = item["question"] or item["slot"].replace("_", " ")
        lines += ["", f"• {question}", f"  → {item['answer']}"]
    return "\n".join(lines)


def export_attachment(data: dict) -> Attachment:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Attachment("conversation-coach-export.json", "application/json", body)
