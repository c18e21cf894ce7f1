"""The partner files: checked as they load, and lines chosen without repeats."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.coach.partner import MOODS, MOVES, STYLES, PartnerBook, load_partner, mood_name


def _book(**change: Any) -> dict[str, Any]:
    styles = {style: {"label": style.replace("_", " "), "start_mood": 0, "answers": {
        move: {mood: [f"{style} {move} {mood} {i}." for i in range(2)] for mood in MOODS}
        for move in MOVES}} for style in STYLES}
    data = {"styles": styles}
    for path, value in change.items():
        *parents, last = path.split("__")
        at = data
        for part in parents:
            at = at[part]
        if value is None:
            del at[last]
        else:
            at[last] = value
    return data


def _load(tmp_path: Path, data: dict[str, Any]) -> tuple[PartnerBook | None, list[str]]:
    path = tmp_path / "partner.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    book, problems = load_partner(path)
    return book, [f"{p.line}: {p.message}" for p in problems]


def test_a_complete_file_loads(tmp_path: Path) -> None:
    book, problems = _load(tmp_path, _book())
    assert problems == [] and book is not None
    assert book.styles["shut_down"].label == "shut down"
    assert book.styles["open"].count() == len(MOVES) * len(MOODS) * 2


@pytest.mark.parametrize("change, expected", [
    ({"styles__open__answers__sarcasm__tense": None}, "'open.sarcasm.tense' needs a list"),
    ({"styles__open__answers__short__opening": []}, "needs a line without"),
    ({"styles__open__answers__short__opening": ["Hi ${name}.", "And ${behavior}?"]},
     "needs a line without ${name} or ${behavior}"),
    ({"styles__open__answers__other__guarded": ["Hey ${partner}.", "Ok then."]},
     "may use only ${quote}, ${name} and ${behavior}"),
    ({"styles__open__answers__other__guarded": ["open feeling tense 0.", "New one."]},
     "this line is also at open.feeling.tense.0"),
    ({"styles__dismissive": None}, "partner style 'dismissive' is missing"),
    ({"styles__open__start_mood": 5}, "'start_mood' from -3 to 2"),
    ({"styles__open__answers__gossip": {"tense": ["a"]}}, "unknown move 'gossip'"),
    ({"styles__grumpy": {}}, "unknown style 'grumpy'"),
])
def test_every_problem_is_named_with_its_line(tmp_path: Path, change: dict[str, Any],
                                              expected: str) -> None:
    book, problems = _load(tmp_path, _book(**change))
    assert book is None
    assert any(expected in p for p in problems), problems
    assert all(int(p.split(":")[0]) >= 1 for p in problems)


def test_lines_never_repeat_and_fall_back_to_near_moods_then_other(tmp_path: Path) -> None:
    book, _ = _load(tmp_path, _book())
    assert book is not None
    used: set[str] = set()
    rng = random.Random(1)
    keys = []
    for _ in range(12):
        line = book.line("open", "sarcasm", "tense", used, {}, rng)
        used.add(line.key)
        keys.append(line.key)
    assert len(set(keys)) == 12
    moods = [k.split(".")[2] for k in keys]
    assert [k.split(".")[1] for k in keys[:6]] == ["sarcasm"] * 6
    assert moods[:6] == ["tense", "tense", "guarded", "guarded", "opening", "opening"]
    assert [k.split(".")[1] for k in keys[6:]] == ["other"] * 6


def test_a_line_quoting_a_word_the_coach_lacks_is_left_out(tmp_path: Path) -> None:
    data = _book(styles__open__answers__question__tense=[
        "Is this about ${name}?", "Fair question.", "I don't know."])
    book, problems = _load(tmp_path, data)
    assert book is not None, problems
    picks = {book.line("open", "question", "tense", set(), {}, random.Random(seed)).text
             for seed in range(30)}
    assert picks == {"Fair question.", "I don't know."}
    named = {book.line("open", "question", "tense", set(), {"name": "Jo"},
                       random.Random(seed)).text for seed in range(30)}
    assert "Is this about ${name}?" in named


def test_mood_names() -> None:
    assert [mood_name(m) for m in (-3, -1, 0, 1, 2)] == [
        "tense", "tense", "guarded", "opening", "opening"]
