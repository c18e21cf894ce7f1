"""Couple mode's file (bot/pairing/together.py): checked with the flows, every problem with
its place."""

from __future__ import annotations

from pathlib import Path

from bot.pairing.together import TEXT_IDS, load_together
from tests.conftest import REPO

SHIPPED = REPO / "flows" / "coach" / "together.yaml"


def test_the_shipped_file_loads_with_every_topic_and_text() -> None:
    together, problems = load_together(SHIPPED)
    assert problems == [] and together is not None
    assert set(together.topics) == {"boundaries", "needs"}
    assert "boundary_online" in together.slots and "need_time" in together.slots
    assert set(together.texts) == set(TEXT_IDS)
    assert together.label("need_time") == "Time together"


def test_an_unknown_placeholder_a_missing_text_and_an_unknown_one_are_problems(
        tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("Your partner accepted your invite.", "${name} accepted.")
    text = text.replace("  ended: The pairing ended.\n", "  endd: The pairing ended.\n")
    path = tmp_path / "together.yaml"
    path.write_text(text, encoding="utf-8")
    together, problems = load_together(path)
    messages = "\n".join(p.message for p in problems)
    assert together is None
    assert "'texts.accepted' uses '${name}'" in messages
    assert "unknown text 'endd'" in messages
    assert "'texts.ended' must be non-empty text" in messages
