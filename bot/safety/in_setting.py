"""What the setting changes about a flag: the same words mean something else when the person
who crossed a line rehearses a deflection ("you also go through my phone"), tells of openness
they offered ("I told her she could read my messages"), or of harm long past and now safe.

Each entry of the rules' `in_setting` list lowers what a category's rules found, when all its
markers are in the message, none of its `unless` words is, and the setting fits; it never
raises a risk. Markers are matched
against the screen's normalised text (lower case, no apostrophes)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.setting import CONTEXTS, ROLES, Setting

LEVELS = ("none", "unsure", "risk")
LEARNED_PREFIX = "learned."  # the rule ids of the learned stage's flags


@dataclass(frozen=True)
class SettingRule:
    id: str
    categories: frozenset[str]
    becomes: str
    markers: tuple[re.Pattern[str], ...]  # every one must be found
    unless: re.Pattern[str] | None = None  # found anywhere: the entry does not apply
    contexts: frozenset[str] = frozenset()  # empty: anywhere
    roles: frozenset[str] = frozenset()  # empty: any speaker, or none known
    learned_too: bool = False  # also any flag of the learned stage, whatever its category
    # A flag of the learned stage read by its `overrule` lead or more stands: the setting's
    # markers are a few words, and a message that reads that strongly as a risk is more
    # than them ("I agreed to the phone thing. Not to the tracker on my car").
    strong_learned_stands: bool = True

    def applies(self, category: str, text: str, setting: Setting, rule: str = "",
                strong: bool = False) -> bool:
        learned = rule.startswith(LEARNED_PREFIX)
        if learned and strong and self.strong_learned_stands:
            return False
        return ((category in self.categories or (learned and self.learned_too))
                and (not self.contexts or setting.context in self.contexts)
                and (not self.roles or setting.role in self.roles)
                and all(marker.search(text) for marker in self.markers)
                and not (self.unless is not None and self.unless.search(text)))


def build_setting_rules(raw: Any, categories: tuple[str, ...],
                        compile_: Callable[[Any, str], re.Pattern[str]]) -> tuple[SettingRule, ...]:
    """`compile_` joins a pattern or a list of alternatives, with the rules' macros."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("'in_setting' must be a list")
    out = []
    for n, spec in enumerate(raw):
        if not isinstance(spec, Mapping) or not {"id", "categories", "becomes", "markers"} <= (
                spec.keys()):
            raise ValueError(f"in_setting[{n}] needs id, categories, becomes and markers")
        where = f"in_setting.{spec['id']}"
        unknown = (set(spec["categories"]) - set(categories)
                   | set(spec.get("contexts") or ()) - set(CONTEXTS)
                   | set(spec.get("roles") or ()) - set(ROLES))
        if unknown:
            raise ValueError(f"{where}: unknown {', '.join(sorted(map(str, unknown)))}")
        if spec["becomes"] not in LEVELS[:2]:
            raise ValueError(f"{where}: 'becomes' must be none or unsure")
        markers = spec["markers"]
        if not isinstance(markers, list) or not markers:
            raise ValueError(f"{where}: 'markers' must be a list of patterns (all must match)")
        out.append(SettingRule(
            id=str(spec["id"]), categories=frozenset(spec["categories"]),
            becomes=str(spec["becomes"]),
            markers=tuple(compile_(m, f"{where}.markers[{i}]") for i, m in enumerate(markers)),
            unless=compile_(spec["unless"], f"{where}.unless") if spec.get("unless") else None,
            contexts=frozenset(spec.get("contexts") or ()),
            roles=frozenset(spec.get("roles") or ()),
            learned_too=bool(spec.get("learned_too", False)),
            strong_learned_stands=bool(spec.get("strong_learned_stands", True))))
    return tuple(out)


def lowered(risk: str, category: str, rule: str, text: str, setting: Setting,
            rules: tuple[SettingRule, ...], strong: bool = False) -> tuple[str, str, str]:
    """(risk, category, rule id) after the setting: the first entry that lowers it wins.
    `strong`: a learned flag read by the examples' `overrule` lead."""
    for entry in rules:
        if LEVELS.index(entry.becomes) < LEVELS.index(risk) and entry.applies(
                category, text, setting, rule, strong):
            return entry.becomes, category if entry.becomes != "none" else "none", (
                f"{entry.id}:{rule}")
    return risk, category, rule
