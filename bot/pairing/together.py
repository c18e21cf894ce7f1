"""Couple mode's file (flows/coach/together.yaml): the topics two partners compare, each
with its questions (the flows' slots) and a way to start a talk, and the coach's sentences
about pairing. Loaded and checked with the flows, so a typo stops the start, not a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import SourceDoc, load_source
from bot.templates import fill, placeholders

TOGETHER_FILE = Path("coach") / "together.yaml"
SERVICE = "together"

# Every sentence the program uses, with the names it fills in.
TEXT_IDS: dict[str, frozenset[str]] = {
    "code": frozenset({"code"}),
    "accepted": frozenset(), "expired": frozenset(), "ended": frozenset(),
    "both_finished": frozenset({"topic"}), "both_shown": frozenset({"topic"}),
    "proposal": frozenset(), "kept_private": frozenset(), "waiting": frozenset(),
    "side_by_side": frozenset({"topic"}),
    "answer_pair": frozenset({"question", "mine", "partner", "theirs"}),
    "agree": frozenset({"questions"}), "to_talk": frozenset({"questions"}),
    "try_saying": frozenset({"opener"}),
    **{f"status_{s}": frozenset({"topic"})
       for s in ("open", "finished", "ready", "shown", "revealed")},
    "agreements_heading": frozenset(), "agreements_empty": frozenset(),
    "agreement": frozenset({"question", "text"}),
    "proposal_mine": frozenset({"question", "text"}),
    "proposal_mine_removal": frozenset({"question"}),
    "proposal_theirs": frozenset({"question", "text"}),
    "proposal_theirs_removal": frozenset({"question"}),
    "pair_usage": frozenset(), "own_code": frozenset(), "already_paired": frozenset(),
    "not_paired": frozenset(), "paused": frozenset(),
    "export_heading": frozenset({"partner", "me"}),
    "export_answers": frozenset({"topic", "answers"}),
    "export_agreements": frozenset({"agreements"}),
    "export_proposal": frozenset({"proposal"}),
    "export_invite": frozenset({"until"}), "export_joining": frozenset(),
    "export_nothing_shared": frozenset(),
}


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    questions: Mapping[str, str]  # slot -> label
    try_saying: str


@dataclass(frozen=True)
class Together:
    partner: str
    topics: Mapping[str, Topic]
    texts: Mapping[str, str]

    def text(self, text_id: str, **values: object) -> str:
        return fill(self.texts[text_id], values) if values else self.texts[text_id]

    def label(self, slot: str) -> str:
        """A question's short label, by its slot."""
        for topic in self.topics.values():
            if slot in topic.questions:
                return topic.questions[slot]
        return slot.replace("_", " ")

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(slot for topic in self.topics.values() for slot in topic.questions)


def _text(doc: SourceDoc, at: tuple[str, ...], allowed: frozenset[str],
          problems: list[FlowProblem]) -> str:
    value = doc.value(at)
    if not isinstance(value, str) or not value.strip():
        problems.append(doc.problem(at, f"'{'.'.join(at)}' must be non-empty text"))
        return ""
    for name in sorted(placeholders(value)[0] - allowed):
        problems.append(doc.problem(at, f"'{'.'.join(at)}' uses '${{{name}}}', which the "
                                        f"program does not fill"))
    return value.strip()


def _topic(doc: SourceDoc, topic_id: str, problems: list[FlowProblem]) -> Topic | None:
    questions = doc.value(("topics", topic_id, "questions"))
    if not isinstance(questions, dict) or not questions or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in questions.items()):
        problems.append(doc.problem(("topics", topic_id), "a topic needs 'questions' "
                                                          "(slot: short label)"))
        return None
    return Topic(topic_id, _text(doc, ("topics", topic_id, "title"), frozenset(), problems),
                 {k: v.strip() for k, v in questions.items()},
                 _text(doc, ("topics", topic_id, "try_saying"), frozenset({"question"}),
                       problems))


def load_together(path: Path) -> tuple[Together | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict) \
            or not isinstance(data.get("texts"), dict):
        return None, [doc.problem((), "the file needs 'partner', 'topics' and 'texts'")]
    topics = {str(t): _topic(doc, str(t), problems) for t in data["topics"]}
    for key in data["texts"]:
        if key not in TEXT_IDS:
            problems.append(doc.problem(("texts", key), f"unknown text '{key}'", key=True))
    texts = {text_id: _text(doc, ("texts", text_id), allowed, problems)
             for text_id, allowed in TEXT_IDS.items()}
    together = Together(_text(doc, ("partner",), frozenset(), problems),
                        {k: v for k, v in topics.items() if v is not None}, texts)
    return (None, problems) if problems else (together, [])
