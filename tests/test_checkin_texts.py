"""The check-ins' wording file is checked with the flows: every problem, with its place."""

from __future__ import annotations

from pathlib import Path

from bot.checkins.texts import load_checkin_texts
from tests.conftest import REPO

SHIPPED = REPO / "flows" / "coach" / "checkins.yaml"


def test_the_shipped_file_loads() -> None:
    texts, problems = load_checkin_texts(SHIPPED)
    assert problems == [] and texts is not None
    assert texts.default_quiet == (21 * 60, 8 * 60) and len(texts.weekdays) == 7


def test_a_broken_file_names_each_problem(tmp_path: Path) -> None:
    broken = tmp_path / "checkins.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("${when}", "${whenever}").replace('default_quiet: "21:00-08:00"',
                                                          'default_quiet: "late"')
    broken.write_text(text.replace("weekdays: [Monday, ", "weekdays: ["), encoding="utf-8")
    texts, problems = load_checkin_texts(broken)
    messages = " | ".join(p.message for p in problems)
    assert texts is None
    assert "'list_talk' uses '${whenever}'" in messages
    assert "'weekdays' needs the seven day names" in messages
    assert "'default_quiet' must be like 21:00-08:00" in messages
