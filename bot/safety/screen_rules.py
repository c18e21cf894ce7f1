"""The safety screen's rules, read from ``flows/safety/screen_rules.yaml`` and compiled once.

Kept apart from screening so the flows catalog can load, check and swap a rules file
(`--flows DIR`, `coach flows check`) and so a reviewer can read what a rule file may hold
without reading how a message is judged.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.paths import flows_file
from bot.safety.in_setting import SettingRule, build_setting_rules
from bot.safety.prefilter import Gate, GateIndex, gate
from bot.yamlfile import safe_data

RULES_PATH = flows_file("safety/screen_rules.yaml")  # honours COACH_FLOWS_DIR
# The name the flows catalog offers the loaded rules under (bot/app.py).
SERVICE = "screen_rules"
CATEGORIES = ("violence", "coercive_control", "self_harm", "none")
SUBJECT_MODES = ("partner", "partner_named", "agent", "not_self", "self")

_TRIGGER_RE = re.compile(r"\(\?P<t>")
_MACRO_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Rule:
    """One compiled pattern. ``subject`` restricts who must be doing the action."""

    id: str
    category: str
    risk: str
    pattern: re.Pattern[str]
    subject: str | None = None
    negatable: bool = True
    gate: Gate | None = None  # see prefilter.py: None means always run


@dataclass(frozen=True)
class Idiom:
    """A harmless phrase masked before rules run. ``gate`` lists substrings of which one must
    be present for the pattern to be tried: a speed-up whose failure mode is an idiom left
    unmasked, which errs toward flagging rather than hiding a risk."""

    id: str
    pattern: re.Pattern[str]
    gate: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignalFamily:
    """One family of signal phrases; families of a category add up (see the module doc)."""

    id: str
    category: str
    weight: int
    patterns: tuple[re.Pattern[str], ...]
    negatable: bool = True
    gates: tuple[Gate | None, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """Everything loaded from the YAML file, compiled once."""

    rules: tuple[Rule, ...]
    idioms: tuple[Idiom, ...]
    negation_cue: re.Pattern[str]
    negation_breaker: re.Pattern[str]
    clause_boundary: re.Pattern[str]
    sentence_boundary: re.Pattern[str]
    partner_words: frozenset[str]
    self_words: frozenset[str]
    other_words: frozenset[str]
    addressee_words: frozenset[str] = frozenset()
    people_words: frozenset[str] = frozenset()
    reassurance: re.Pattern[str] | None = None
    # The categories a reassurance clears an unsure flag of ("he's never touched me" says
    # nothing about who holds the phone).
    reassured: tuple[str, ...] = CATEGORIES[:-1]
    # Words about the partner alone ("she's not dangerous", "he's never hurt me"): they speak
    # for danger from the partner, never for the person's own ("it's me I'm worried about").
    partner_reassurance: re.Pattern[str] | None = None
    partner_reassured: tuple[str, ...] = ("violence",)
    signals: tuple[SignalFamily, ...] = ()
    signal_threshold: int = 2
    rule_index: GateIndex | None = None
    # every signal pattern as (family number, pattern number), and their index
    signal_patterns: tuple[tuple[int, int], ...] = ()
    signal_index: GateIndex | None = None
    in_setting: tuple[SettingRule, ...] = ()
    # The languages the rules (and the learned stage's examples) are written in: a message
    # in any other is one the screen cannot judge, and it says so (`UNREAD`).
    languages: tuple[str, ...] = ("en",)
    max_chars: int = 20_000
    negation_window: int = 3
    breaker_window: int = 6
    subject_window: int = 8
    context_chars: int = 200



def _expand(pattern: str, macros: Mapping[str, str]) -> str:
    """Replace {name} with its macro; repeated so macros may use other macros."""
    for _ in range(5):
        new = _MACRO_RE.sub(lambda m: macros.get(m.group(1), m.group(0)), pattern)
        if new == pattern:
            return new
        pattern = new
    return pattern


def _join(raw: str | Iterable[str], macros: Mapping[str, str]) -> str:
    """A rule may give one pattern or a list of alternatives."""
    parts = [raw] if isinstance(raw, str) else list(raw)
    if not parts:
        raise ValueError("empty pattern list")
    joined = "|".join(f"(?:{_expand(str(p), macros)})" for p in parts)
    # Python forbids reusing a group name, so each trigger group "t" becomes t0, t1, ...
    counter = itertools.count()
    return _TRIGGER_RE.sub(lambda _m: f"(?P<t{next(counter)}>", joined)


def _compile(raw: str | Iterable[str], macros: Mapping[str, str], where: str) -> re.Pattern[str]:
    try:
        return re.compile(_join(raw, macros))
    except (re.error, ValueError) as exc:
        raise ValueError(f"bad pattern in {where}: {exc}") from exc


def _build_rule(spec: Mapping[str, Any], macros: Mapping[str, str], gates: bool = True) -> Rule:
    rule_id = str(spec["id"])
    category, risk = spec["category"], spec.get("risk", "risk")
    subject = spec.get("subject")
    if category not in CATEGORIES or category == "none":
        raise ValueError(f"rule {rule_id}: bad category {category!r}")
    if risk not in ("risk", "unsure"):
        raise ValueError(f"rule {rule_id}: bad risk {risk!r}")
    if subject is not None and subject not in SUBJECT_MODES:
        raise ValueError(f"rule {rule_id}: bad subject mode {subject!r}")
    pattern = _compile(spec["pattern"], macros, f"rule {rule_id}")
    negatable = bool(spec.get("negatable", True))
    return Rule(rule_id, category, risk, pattern, subject, negatable,
                gate(pattern) if gates else None)


def _build_idiom(spec: Mapping[str, Any], macros: Mapping[str, str]) -> Idiom:
    idiom_id = str(spec["id"])
    pattern = _compile(spec["pattern"], macros, f"idiom {idiom_id}")
    return Idiom(idiom_id, pattern, tuple(str(g) for g in spec.get("gate") or ()))


def _build_signal(spec: Mapping[str, Any], macros: Mapping[str, str],
                  gates: bool = True) -> SignalFamily:
    family_id, category = str(spec["id"]), spec["category"]
    if category not in CATEGORIES or category == "none":
        raise ValueError(f"signal {family_id}: bad category {category!r}")
    raw = spec["pattern"]
    patterns = tuple(
        _compile(p, macros, f"signal {family_id}") for p in ([raw] if isinstance(raw, str) else raw)
    )
    weight = int(spec.get("weight", 1))
    if weight < 1:
        raise ValueError(f"signal {family_id}: weight must be at least 1")
    negatable = bool(spec.get("negatable", True))
    return SignalFamily(family_id, category, weight, patterns, negatable,
                        tuple(gate(p) if gates else None for p in patterns))


def _words(data: Mapping[str, Any], key: str) -> frozenset[str]:
    return frozenset(str(w).lower() for w in data.get(key, ()))


def build_rules(data: Mapping[str, Any], *, gates: bool = True) -> RuleSet:
    """Validate and compile a parsed rules document (separate from I/O for testing).

    `gates=False` skips working out the pre-check strings (about as costly as compiling):
    `coach flows check` only needs to know the rules compile; results are the same either way.
    """
    macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
    rules = tuple(_build_rule(spec, macros, gates) for spec in data["rules"])
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate rule ids")
    idioms = tuple(_build_idiom(spec, macros) for spec in data.get("idioms") or ())
    neg, subj, settings = data["negation"], data["subjects"], data.get("settings") or {}
    signal_data = data.get("signals") or {}
    signals = tuple(_build_signal(spec, macros, gates)
                    for spec in signal_data.get("families") or ())
    if len({f.id for f in signals}) != len(signals):
        raise ValueError("duplicate signal family ids")
    return RuleSet(
        rules=rules,
        idioms=idioms,
        negation_cue=_compile(neg["cue"], macros, "negation.cue"),
        negation_breaker=_compile(neg["breaker"], macros, "negation.breaker"),
        clause_boundary=_compile(data["boundaries"]["clause"], macros, "boundaries.clause"),
        sentence_boundary=_compile(data["boundaries"]["sentence"], macros, "boundaries.sentence"),
        partner_words=_words(subj, "partner"),
        self_words=_words(subj, "self"),
        other_words=_words(subj, "other"),
        addressee_words=_words(subj, "addressee"),
        people_words=_words(subj, "people"),
        signals=signals,
        signal_threshold=int(signal_data.get("threshold", 2)),
        rule_index=GateIndex.build([r.gate for r in rules]),
        signal_patterns=tuple((f, p) for f, family in enumerate(signals)
                              for p in range(len(family.patterns))),
        signal_index=GateIndex.build([g for family in signals for g in family.gates]),
        reassurance=(
            _compile(data["reassurance"], macros, "reassurance")
            if data.get("reassurance")
            else None
        ),
        reassured=_reassured_categories(data.get("reassurance_clears")),
        partner_reassurance=(
            _compile(data["partner_reassurance"], macros, "partner_reassurance")
            if data.get("partner_reassurance")
            else None
        ),
        partner_reassured=_reassured_categories(data.get("partner_reassurance_clears",
                                                         ["violence"])),
        in_setting=build_setting_rules(data.get("in_setting"), CATEGORIES[:-1],
                                       lambda raw, where: _compile(raw, macros, where)),
        languages=tuple(str(lang) for lang in data.get("languages") or ("en",)),
        **{k: int(v) for k, v in settings.items()},
    )


def _reassured_categories(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return CATEGORIES[:-1]
    if not isinstance(raw, list) or any(c not in CATEGORIES[:-1] for c in raw):
        raise ValueError(f"reassurance_clears must list categories of {', '.join(CATEGORIES[:-1])}")
    return tuple(raw)


@functools.lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> RuleSet:
    """Load and compile the YAML once; cached because screening runs on every message."""
    with open(path, encoding="utf-8") as fh:
        return build_rules(safe_data(fh.read()))
