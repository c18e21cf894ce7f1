"""The screen's pre-check only skips rules that cannot match: results never change."""

from __future__ import annotations

import dataclasses
import re

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import screen as screen_module
from bot.safety.prefilter import GateIndex, gate, grams, required_strings
from tests.conftest import REPO

RULES = screen_module.load_rules()
UNGATED = dataclasses.replace(
    RULES, rules=tuple(dataclasses.replace(rule, gate=None) for rule in RULES.rules),
    signals=tuple(dataclasses.replace(f, gates=(None,) * len(f.patterns)) for f in RULES.signals),
    rule_index=GateIndex.build([None] * len(RULES.rules)),
    signal_index=GateIndex.build([None] * len(RULES.signal_patterns)))
LABELLED = [item["text"] for item in
            yaml.safe_load((REPO / "tests/data/safety_labelled.yaml").read_text())["items"]]
# Words the rules care about, so random messages often come close to matching.
VOCABULARY = sorted(set(re.findall(r"[a-z]{2,}", (REPO / "flows/safety/screen_rules.yaml")
                                    .read_text().lower())))


def _same(text: str) -> None:
    gated = screen_module._evaluate(text, RULES)
    plain = screen_module._evaluate(text, UNGATED)
    assert (gated.risk, gated.category, gated.rule) == (plain.risk, plain.category, plain.rule)


def test_required_strings_of_simple_patterns() -> None:
    assert required_strings(re.compile(r"\bhit(?:s|ting)?\s+me\b")) == {"hit"}
    assert required_strings(re.compile(r"\b(?:kill|hurt)\s+(?:me|you)")) == {"kill", "hurt"}
    assert required_strings(re.compile(r"\b\w+\s+me")) == {"me"}
    assert gate(re.compile(r"\b\w+\s+me")) is None  # too short to pre-check: always run
    assert required_strings(re.compile(r"(?:a|\w+)")) is None
    assert grams("abcd") == {"abc", "bcd"}


def test_the_labelled_messages_screen_the_same() -> None:
    for text in LABELLED:
        _same(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*VOCABULARY, "he", "she", "me", "my", "not", "i", "im"]),
                min_size=1, max_size=14))
def test_random_messages_from_the_rules_vocabulary_screen_the_same(words: list[str]) -> None:
    _same(" ".join(words))
