"""tools/walkthroughs.py: the reading counts behind docs/walkthroughs.md are real counts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "walkthroughs", Path(__file__).resolve().parent.parent / "tools" / "walkthroughs.py")
assert SPEC and SPEC.loader
walkthroughs = importlib.util.module_from_spec(SPEC)
sys.modules["walkthroughs"] = walkthroughs  # dataclasses look their module up
SPEC.loader.exec_module(walkthroughs)


def test_run_counts_each_part_the_coach_sent() -> None:
    walk = walkthroughs.run([walkthroughs.ADULT])
    # the greeting's parts (none has a blank line inside), then the menu question
    greeting = walk.text.split("  [1]")[0].strip().split("\n\n")
    assert walk.bubbles == len(greeting) + 1
    assert walk.chars == sum(map(len, greeting)) + len("Which of these fits you today?")
    assert "> 1\nWhich of these fits you today?" in walk.text


def test_table_totals_the_walks() -> None:
    rows = [("a", walkthroughs.Walk("", 2, 10)), ("b", walkthroughs.Walk("", 3, 5))]
    lines = walkthroughs.table(rows)
    assert lines[2] == "| a | 2 | 10 | – | – |"
    assert lines[-1] == "| **total** | 5 | 15 | – | – |"


def test_table_shows_the_figures_from_before() -> None:
    rows = [("a", walkthroughs.Walk("", 2, 10)), ("b", walkthroughs.Walk("", 3, 5))]
    lines = walkthroughs.table(rows, {"a": (4, 20), "b": (6, 9)})
    assert lines[3] == "| b | 3 | 5 | 6 | 9 |"
    assert lines[-1] == "| **total** | 5 | 15 | 10 | 29 |"
    assert walkthroughs.table(rows, {"a": (4, 20)})[-1].endswith("| – | – |")
