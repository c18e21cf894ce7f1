"""The core's own sentences (help, "that step has passed", ...), kept in YAML for editors.

Python only knows the ids; the wording lives in `flows/core/messages.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.flowlang.errors import FlowProblem, did_you_mean
from bot.flowlang.parse import MAX_LABEL
from bot.flowlang.source import load_source
from bot.templates import fill, placeholders

# Every id the core uses, with the placeholders each may contain.
TEXT_IDS: dict[str, frozenset[str]] = {
    "help": frozenset(),
    "privacy": frozenset({"how_long"}),
    "privacy_kept_for": frozenset({"days"}),
    "privacy_kept_until_deleted": frozenset(),
    "sos": frozenset(),
    "unread_language": frozenset(),
    "unknown_command": frozenset({"command"}),
    "stale_button": frozenset(),
    "bad_button": frozenset(),
    "empty_text": frozenset(),
    "too_long": frozenset({"max", "length"}),
    "too_short": frozenset({"min"}),
    "pick_a_choice": frozenset(),
    "did_you_mean": frozenset({"first", "second"}),
    "did_you_mean_one": frozenset({"first"}),
    "choice_yes_words": frozenset(),
    "choice_no_words": frozenset(),
    "choice_unsure_words": frozenset(),
    "flow_changed": frozenset({"title"}),
    "flow_removed": frozenset(),
    "unknown_flow": frozenset({"flow"}),
    "back_nothing": frozenset(),
    "restarted": frozenset({"title"}),
    "resume_here": frozenset({"title"}),
    "welcome_back": frozenset({"title"}),
    "welcome_back_menu": frozenset(),
    "menu_button": frozenset(),
    "delete_confirm": frozenset(),
    "delete_yes": frozenset(),
    "delete_no": frozenset(),
    "deleted": frozenset({"answers"}),
    "delete_cancelled": frozenset(),
    "delete_unclear": frozenset(),
    "confirm_yes_words": frozenset(),
    "confirm_no_words": frozenset(),
    "delete_words": frozenset(),
    "confirm_filler_words": frozenset(),
    "not_saved": frozenset(),
    "export_header": frozenset(),
    "export_empty": frozenset(),
    "export_position": frozenset({"title"}),
    "group_chat": frozenset(),
    "missing_answer": frozenset(),
    "skipped": frozenset(),
    "held_answer_kept": frozenset(),
    # What chat apps show beside the commands (Telegram's menu, Discord's command picker) and
    # the button that leads from a group into a private chat.
    **{f"command_{name}": frozenset() for name in (
        "start", "menu", "help", "back", "restart", "resume", "plan", "checkins", "invite",
        "together", "pair", "unpair", "export", "delete", "sos", "privacy", "language")},
    "command_start_topic": frozenset(),
    "command_pair_code": frozenset(),
    # A couple-mode invite as a Telegram deep link, added by the Telegram adapter.
    "invite_link": frozenset({"link"}),
    # /export's sections below the answers, and what a stored safety concern means
    "export_notes": frozenset(),
    "export_working_notes": frozenset(),
    "export_held": frozenset(),
    "export_concern": frozenset({"meaning"}),
    "export_steps": frozenset(),
    "export_calls": frozenset({"places"}),
    "export_resume": frozenset({"place"}),
    "export_wanted": frozenset({"title"}),
    "export_pending_delete": frozenset(),
    "export_seen": frozenset({"kept", "ids"}),
    "export_dates": frozenset({"user", "created", "updated"}),
    "concern_violence": frozenset(),
    "concern_coercive_control": frozenset(),
    "concern_unsafe_to_talk": frozenset(),
    "private_chat_button": frozenset(),
    # /language (bot/i18n/choose.py): this language's own name, the question, the answer
    "language_name": frozenset(),
    "language_ask": frozenset(),
    "language_set": frozenset(),
    "export_language": frozenset({"language"}),
}

# Messages shown as button labels, held to the same length as labels in flows.
BUTTON_IDS = frozenset({"delete_yes", "delete_no", "menu_button", "private_chat_button",
                        "language_name"})


@dataclass(frozen=True)
class Texts:
    entries: dict[str, str]

    def get(self, text_id: str, **values: object) -> str:
        """The message with `${name}` filled; `${n} word|words` agrees with n."""
        return fill(self.entries[text_id], values) if values else self.entries[text_id]


# /export's notes in plain words, one per slot (and value), named by the flows' slots:
# `note_<slot>` or `note_<slot>_<value>`, each may use ${value}.
NOTE_PREFIX = "note_"


def load_texts(path: Path, display: str | None = None) -> tuple[Texts | None, list[FlowProblem]]:
    doc, problems = load_source(path, display)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "the messages file must map message ids to text")]
    entries: dict[str, str] = {}
    for key, value in doc.data.items():
        if str(key).startswith(NOTE_PREFIX) and len(str(key)) > len(NOTE_PREFIX):
            allowed_note = frozenset({"value"})
            if not isinstance(value, str) or not value.strip():
                problems.append(doc.problem((key,), f"message '{key}' must be non-empty text"))
                continue
            for name in sorted(placeholders(value)[0] - allowed_note):
                problems.append(doc.problem((key,), f"message '{key}' uses '${{{name}}}'; a "
                                                    "note may use only ${value}"))
            entries[key] = value.strip()
            continue
        if key not in TEXT_IDS:
            problems.append(doc.problem((key,), f"unknown message id '{key}'"
                                                f"{did_you_mean(str(key), TEXT_IDS)}", key=True))
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(doc.problem((key,), f"message '{key}' must be non-empty text"))
            continue
        if key in BUTTON_IDS and len(value.strip()) > MAX_LABEL:
            problems.append(doc.problem((key,), f"'{key}' is a button label: keep it to "
                                                f"{MAX_LABEL} characters or fewer"))
        allowed = TEXT_IDS[key]
        for name in sorted(placeholders(value)[0]):
            if name not in allowed:
                hint = f"; it may use {', '.join(sorted(allowed))}" if allowed else ""
                problems.append(doc.problem((key,), f"message '{key}' uses '${{{name}}}', "
                                                    f"which the core does not fill{hint}"))
        entries[key] = value.strip()
    for missing in sorted(set(TEXT_IDS) - set(doc.data)):
        problems.append(doc.problem((), f"message '{missing}' is missing"))
    return Texts(entries), problems
