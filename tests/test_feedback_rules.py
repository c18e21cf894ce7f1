"""The line coach's rules file: read once, compiled once, refused clearly when wrong."""

from __future__ import annotations

import pytest

from bot.coach.feedback_rules import (
    PATTERN_KINDS,
    build_rules,
    compiled_rules,
    load_rules,
)


def _with_kind(raw: dict, name: str, spec: dict) -> dict:
    """A copy of the shipped rules with one kind replaced (the loaded dict is shared)."""
    return {**raw, "kinds": {**raw["kinds"], name: spec}}


def test_every_pattern_kind_the_analysis_looks_for_is_in_the_shipped_rules() -> None:
    rules = compiled_rules()
    assert set(PATTERN_KINDS) <= set(rules.kinds)
    assert all(rules.kinds[name].regexes for name in PATTERN_KINDS)


def test_a_phrase_matches_whole_words_only_and_macros_expand() -> None:
    raw = load_rules()
    spec = {"severity": "harsh", "weight": 10, "explanation": "x", "suggestion": "y",
            "phrases": ["just a friend"], "patterns": ["\\bnever YOU_TEST\\b"]}
    rules = build_rules({**_with_kind(raw, "insult", spec),
                         "macros": {**(raw.get("macros") or {}), "YOU_TEST": "(?:you|u)"}})
    regexes = rules.kinds["insult"].regexes
    assert any(r.search("he's just a friend") for r in regexes)
    assert not any(r.search("she's just a friendly person") for r in regexes)
    assert any(r.search("i never   u") for r in regexes)  # a space matches any run of spaces


def test_a_kind_for_one_role_is_looked_for_only_for_that_speaker_or_an_unknown_one() -> None:
    rule = compiled_rules().kinds["but_apology"]
    assert rule.roles == frozenset({"crossed"})
    assert rule.for_speaker("crossed") and rule.for_speaker(None)
    assert not rule.for_speaker("hurt")


def test_a_kind_floor_that_is_not_a_number_is_refused() -> None:
    raw = load_rules()
    spec = {**raw["kinds"]["learned"], "kind_floor": "high"}
    with pytest.raises(ValueError, match="kind_floor"):
        build_rules(_with_kind(raw, "learned", spec))


def test_a_file_without_kinds_is_refused_with_its_reason(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'kinds' section"):
        load_rules(str(path))


def test_the_rules_say_which_languages_they_read_and_a_bad_list_is_refused() -> None:
    raw = load_rules()
    assert compiled_rules().languages == ("en",)
    assert build_rules({**raw, "languages": ["en", "es"], "watching_unread": {}}).languages == (
        "en", "es")
    with pytest.raises(ValueError, match="languages"):
        build_rules({**raw, "languages": "en"})


def test_watching_words_are_for_languages_the_rules_cannot_judge() -> None:
    raw = load_rules()
    assert "es" in compiled_rules().watching_unread
    with pytest.raises(ValueError, match="watching_unread: the rules read en already"):
        build_rules({**raw, "watching_unread": {"en": ["check"]}})
    with pytest.raises(ValueError, match="watching_unread must map"):
        build_rules({**raw, "watching_unread": ["revisar"]})


def test_a_harsher_margin_that_is_not_a_number_is_refused() -> None:
    raw = load_rules()
    spec = {**raw["kinds"]["learned"], "harsher_margin": "a lot"}
    with pytest.raises(ValueError, match="harsher_margin"):
        build_rules(_with_kind(raw, "learned", spec))
