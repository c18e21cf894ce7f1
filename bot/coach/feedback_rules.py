"""The line coach's rules, read from ``flows/coach/feedback_rules.yaml`` and compiled once.

Kept apart from the analysis so the flows catalog can load, check and swap a rules file
(`--flows DIR`, `coach flows check`) without importing how a line is judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bot.paths import flows_file
from bot.yamlfile import safe_data

RULES_PATH = flows_file("coach/feedback_rules.yaml")  # honours COACH_FLOWS_DIR
# The name the flows catalog offers the loaded rules under (bot/app.py).
SERVICE = "feedback_rules"
VERDICTS = ("calm", "almost", "harsh")
MISSING_KINDS = ("no_feeling", "no_specific_behavior", "no_invitation")
PATTERN_KINDS = (
    "policing",
    "access_request",
    "threat",
    "insult",
    "contempt",
    "stonewalling",
    "defensiveness",
    "blame_shift",
    "minimising",
    "but_apology",
    "non_apology",
    "you_blame",
    "accusation_question",
    "absolute",
    "demand",
    "thought_as_feeling",
)
POSITIVE_KINDS = (
    "i_statement",
    "named_feeling",
    "specific_observation",
    "invitation",
    "appreciation",
    "own_part",
)


_MACRO_TOKEN = re.compile(r"(?<!\\)[A-Z][A-Z_]+")



@dataclass(frozen=True)
class KindRule:
    name: str
    severity: str
    weight: float
    explanation: str
    suggestion: str
    regexes: tuple[re.Pattern[str], ...] = ()
    negatable: bool = False
    unless_before: tuple[re.Pattern[str], ...] = ()
    unless_after: tuple[re.Pattern[str], ...] = ()
    roles: frozenset[str] = frozenset()  # empty: looked for whoever speaks

    def for_speaker(self, role: str | None) -> bool:
        return not self.roles or role is None or role in self.roles

# What the one who crossed a line says instead of owning it.
OWNING_KINDS = frozenset({"minimising", "but_apology", "non_apology", "blame_shift"})


@dataclass(frozen=True)
class FeedbackRules:
    raw: dict[str, Any]
    kinds: dict[str, KindRule]
    order: dict[str, int]
    positives: dict[str, tuple[re.Pattern[str], ...]]
    feelings: dict[str, str]
    feeling_re: re.Pattern[str]
    behaviour_leads: tuple[re.Pattern[str], ...]
    behaviour_stop: re.Pattern[str]
    behaviour_reject: re.Pattern[str]
    behaviour_drop: re.Pattern[str]
    acronyms: frozenset[str]
    short_shout_words: frozenset[str]
    languages: tuple[str, ...] = ("en",)  # what the rules can read (`languages:` in the file)
    # In a language the rules cannot judge, the words that still set a line aside as watching
    # the partner (`watching_unread:`, by language): never coach anyone to police a partner.
    watching_unread: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)



@lru_cache(maxsize=1)
def load_rules(path: str | None = None) -> dict[str, Any]:
    """Read the YAML rules once; safe_load because the file is data, never code."""
    with open(path or RULES_PATH, encoding="utf-8") as fh:
        data = safe_data(fh.read())
    if not isinstance(data, dict) or "kinds" not in data:
        raise ValueError("feedback rules file has no 'kinds' section")
    return data


def _expand(pattern: str, macros: dict[str, str]) -> str:
    """Expand UPPERCASE macros and let spaces match any run of whitespace."""
    pattern = pattern.replace(" ", r"\s+")
    return _MACRO_TOKEN.sub(lambda m: macros.get(m.group(0), m.group(0)), pattern)


def _phrase_regex(phrase: str, macros: dict[str, str]) -> str:
    """Literal phrase -> regex with word boundaries (macros still allowed)."""
    parts = _MACRO_TOKEN.split(phrase)
    tokens = _MACRO_TOKEN.findall(phrase)
    body = ""
    for i, part in enumerate(parts):
        body += re.escape(part.lower()).replace(r"\ ", r"\s+")
        if i < len(tokens):
            body += macros.get(tokens[i], re.escape(tokens[i].lower()))
    lead = r"(?<![\w'])" if re.match(r"[\w(A-Z]", phrase) else ""
    tail = r"(?![\w'])" if re.search(r"\w$", phrase) else ""
    return lead + body + tail


def _compile_all(items: list[str] | None, macros: dict[str, str], anchor: str = "") -> tuple:
    out = []
    for item in items or ():
        text = _expand(str(item), macros)
        if anchor == "end":
            text = f"(?:{text})$"
        elif anchor == "start":
            text = f"^(?:{text})"
        out.append(re.compile(text))
    return tuple(out)


def _kind_rule(name: str, spec: dict[str, Any], macros: dict[str, str]) -> KindRule:
    regexes = list(_compile_all(spec.get("patterns"), macros))
    phrases = [_phrase_regex(str(p), macros) for p in spec.get("phrases") or ()]
    if phrases:
        regexes.append(re.compile("|".join(phrases)))
    return KindRule(
        name=name,
        severity=str(spec.get("severity", "gentle")),
        weight=float(spec.get("weight", 0)),
        explanation=str(spec.get("explanation", "")),
        suggestion=str(spec.get("suggestion", "")),
        regexes=tuple(regexes),
        negatable=bool(spec.get("negatable", False)),
        unless_before=_compile_all(spec.get("unless_before"), macros, "end"),
        unless_after=_compile_all(spec.get("unless_after"), macros),
        roles=frozenset(str(r) for r in spec.get("roles") or ()),
    )


@lru_cache(maxsize=1)
def compiled_rules() -> FeedbackRules:
    """Compile every regex once, on first use, so each analyse() call only matches."""
    return build_rules(load_rules())


def build_rules(raw: dict[str, Any]) -> FeedbackRules:
    """Compile a parsed rules document (also used to check an edited file at start-up)."""
    macros = {str(k): str(v) for k, v in (raw.get("macros") or {}).items()}
    verbs = (raw.get("behaviour") or {}).get("verbs") or ["(?!x)x"]
    macros["BVERB"] = "(?:" + "|".join(re.escape(str(v)) for v in verbs) + ")"
    kinds = {name: _kind_rule(name, spec, macros) for name, spec in raw["kinds"].items()}
    learned = raw["kinds"].get("learned") or {}
    for key, example in (("kind_floor", "-0.5"), ("harsher_margin", "0.6"),
                         ("also_kind_floor", "-0.25")):
        value = learned.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"kinds.learned.{key} must be a number, e.g. {example}")
    pos_raw = raw.get("positives") or {}
    feelings = {str(k).lower(): str(v) for k, v in pos_raw["named_feeling"]["words"].items()}
    words = sorted(feelings, key=len, reverse=True)
    feeling_re = re.compile(r"(?<![\w'])(?:" + "|".join(_phrase_regex(w, {}) for w in words) + ")")
    positives = {
        name: _compile_all((pos_raw.get(name) or {}).get("patterns"), macros)
        for name in POSITIVE_KINDS
        if name != "named_feeling"
    }
    beh = raw.get("behaviour") or {}
    shout = raw["kinds"]["shouting"]
    order = {name: i for i, name in enumerate(raw.get("order") or list(kinds))}
    return FeedbackRules(
        raw=raw,
        kinds=kinds,
        order=order,
        positives=positives,
        feelings=feelings,
        feeling_re=feeling_re,
        behaviour_leads=_compile_all(beh.get("leads"), macros),
        behaviour_stop=re.compile(_expand(str(beh.get("stop", r"[.!?\n]")), macros)),
        behaviour_reject=re.compile(_expand(str(beh.get("reject", r"(?!x)x")), macros)),
        behaviour_drop=re.compile(
            r"\b(?:" + "|".join(re.escape(w) for w in beh.get("drop") or ["(?!x)x"]) + r")\b\s*",
            re.IGNORECASE,
        ),
        acronyms=frozenset(str(a).upper() for a in shout.get("acronyms") or ()),
        short_shout_words=frozenset(str(w).lower() for w in shout.get("short_words") or ()),
        languages=_languages(raw.get("languages")),
        watching_unread=_watching_unread(raw.get("watching_unread"), macros,
                                         _languages(raw.get("languages"))),
    )


def _watching_unread(raw: Any, macros: dict[str, str], languages: tuple[str, ...]
                     ) -> dict[str, tuple[re.Pattern[str], ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
            isinstance(patterns, list) and all(isinstance(p, str) for p in patterns)
            for patterns in raw.values()):
        raise ValueError("watching_unread must map a language code to a list of patterns")
    read = [str(language) for language in raw if language in languages]
    if read:
        raise ValueError(f"watching_unread: the rules read {', '.join(read)} already "
                         "(policing sets such a line aside there)")
    return {str(language): _compile_all(patterns, macros) for language, patterns in raw.items()}


def _languages(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ("en",)
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise ValueError("languages must list language codes, e.g. [en]")
    return tuple(raw)

