"""The safety screen's rules file: read safely, compiled once, refused clearly when wrong."""

from __future__ import annotations

import pytest
import yaml

from bot.safety.screen_rules import RULES_PATH, build_rules, load_rules


def _shipped() -> dict:
    with open(RULES_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_rules_yaml_loads_with_safe_load() -> None:
    with open(RULES_PATH, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert {"rules", "idioms", "negation", "subjects", "macros"} <= set(data)
    rules = build_rules(data)
    categories = {rule.category for rule in rules.rules}
    assert categories == {"violence", "coercive_control", "self_harm"}
    for rule in rules.rules:
        assert rule.id.startswith(rule.category + "."), rule.id
        assert rule.risk in ("risk", "unsure")
    assert all(idiom.id.startswith("idiom.") for idiom in rules.idioms)


def test_rules_are_cached() -> None:
    assert load_rules() is load_rules()


def test_bad_rule_is_rejected() -> None:
    with open(RULES_PATH, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    data["rules"].append({"id": "violence.bad", "category": "violence", "pattern": "(unclosed"})
    with pytest.raises(ValueError, match=r"violence\.bad"):
        build_rules(data)


@pytest.mark.parametrize(("spec", "reason"), [
    ({"id": "violence.x", "category": "anger", "pattern": "x"}, "bad category"),
    ({"id": "violence.x", "category": "violence", "risk": "maybe", "pattern": "x"}, "bad risk"),
    ({"id": "violence.x", "category": "violence", "subject": "cat", "pattern": "x"},
     "bad subject mode"),
])
def test_a_rule_with_a_value_the_screen_does_not_know_is_refused(spec: dict, reason: str) -> None:
    data = _shipped()
    data["rules"].append(spec)
    with pytest.raises(ValueError, match=reason):
        build_rules(data)


def test_reassurance_clears_only_the_categories_it_names() -> None:
    data = _shipped()
    assert build_rules(data).reassured == ("violence", "self_harm")
    data["reassurance_clears"] = ["violence", "anger"]
    with pytest.raises(ValueError, match="reassurance_clears"):
        build_rules(data)
    del data["reassurance_clears"]
    assert build_rules(data).reassured == ("violence", "coercive_control", "self_harm")


def test_two_rules_with_one_id_are_refused() -> None:
    data = _shipped()
    data["rules"].append(dict(data["rules"][0]))
    with pytest.raises(ValueError, match="duplicate rule ids"):
        build_rules(data)


def test_a_macro_may_use_another_macro() -> None:
    data = _shipped()
    data["macros"] = {**data["macros"], "inner_t": "slapp?ed", "outer_t": "(?:{inner_t})"}
    data["rules"].append({"id": "violence.macro_test", "category": "violence",
                          "pattern": "\\bhe {outer_t} me\\b"})
    rule = build_rules(data).rules[-1]
    assert rule.pattern.search("he slapped me")


def test_the_rules_say_which_languages_they_read() -> None:
    assert load_rules().languages == ("en",)
    assert build_rules({**_shipped(), "languages": ["en", "es"]}, gates=False).languages == (
        "en", "es")
