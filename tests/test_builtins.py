"""The flow language's own conditions: here `slot_mentions`, which lets a flow answer a typed
reflection in kind, and how `coach flows check` reports a malformed cue list."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.app import check_flows
from bot.flowlang.builtins import mentions, slot_mentions
from tests.conftest import CORE_FLOWS


def _ctx(**slots: str) -> Any:
    return SimpleNamespace(session=SimpleNamespace(slots=slots))


@pytest.mark.parametrize(("text", "cues", "found"), [
    ("I felt so LONELY at home", ["lonel"], True),
    ("loneliness, mostly", ["lonel", "unseen"], True),
    ("my neighbour was bored", ["bor"], True),
    ("my neighbour was kind", ["bor"], False),  # a cue starts a word
    ("I don’t know", ["i don't know"], True),  # curly apostrophe read straight
    ("it just happened", "just happened", True),
    ("", ["anything"], False),
])
def test_mentions_finds_cues_at_the_start_of_a_word(text: str, cues: Any, found: bool) -> None:
    assert mentions(text, cues) is found


def test_slot_mentions_reads_the_named_slot() -> None:
    assert slot_mentions(_ctx(reflect="I was bored"), {"reflect": ["bored", "excit"]})
    assert not slot_mentions(_ctx(reflect="I wanted to be seen"), {"reflect": ["bored"]})
    assert not slot_mentions(_ctx(), {"reflect": ["bored"]})


BAD_CUES = """\
id: cues
title: Cues
start: ask
states:
  ask:
    say: What were you looking for?
    ask: {slot: why}
    next:
      - {to: ask, if: {slot_mentions: {why: lonely}}}
      - {to: done}
  done:
    say: Thanks.
    next: {flow: menu}
"""


def test_a_cue_list_that_is_not_a_list_is_reported_at_its_line(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(CORE_FLOWS, flows)
    (flows / "cues.yaml").write_text(BAD_CUES)
    catalog, problems = check_flows([flows])
    assert catalog is None
    assert [(Path(p.path).name, p.line) for p in problems] == [("cues.yaml", 9)]
    assert "list of cue words" in problems[0].message
