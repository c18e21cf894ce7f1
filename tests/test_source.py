"""Reading a YAML file with positions: values by path, and problems pointing at them."""

from __future__ import annotations

from bot.flowlang.source import parse_source


def test_a_value_is_found_by_keys_and_indexes_or_is_none() -> None:
    doc, problems = parse_source("a:\n  b: [x, {c: 3}]\n", "f.yaml")
    assert doc is not None and problems == []
    assert doc.value(("a", "b", 1, "c")) == 3
    assert doc.value(("a", "b", 0)) == "x"
    assert doc.value(("a", "b", 5)) is None and doc.value(("a", "z")) is None
    assert doc.value(("a", "b", "c")) is None  # a key into a list
    assert doc.problem(("a", "b", 1, "c"), "m").line == 2
