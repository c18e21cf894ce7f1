"""Deterministic, explainable calm-language feedback for rehearsing a hard talk.

Rules rather than a model, so every finding points at the exact words that caused it and
the same text always gets the same answer. The rules follow Gottman's gentle start-up (no
blame, criticism or contempt), Nonviolent Communication (observation, feeling, request) and
I-statements. All word lists and every user-facing sentence live in
``flows/coach/feedback_rules.yaml``; this module only knows how to apply them.
"""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from bot.paths import flows_file
from bot.quotes import STRAIGHT
from bot.setting import NO_SETTING, Setting
from bot.understanding.examples import shipped_reader
from bot.understanding.learned import LearnedReader, Reading
from bot.yamlfile import safe_data

log = logging.getLogger(__name__)

RULES_PATH = flows_file("coach/feedback_rules.yaml")  # honours COACH_FLOWS_DIR
# The name the flows catalog offers the loaded rules under (bot/app.py).
SERVICE = "feedback_rules"
LEARNED = "feedback_learned"  # the learned stage, offered under this name (bot/app.py)
EXAMPLES_FILE = "coach/feedback_examples.yaml"
MAX_LIKE_CHARS = 120  # an example quoted in a finding stays a phone line long
# The parts of a calm line; two of them and a resemblance does not overrule the rules.
CALM_BUILDING = frozenset({"named_feeling", "specific_observation", "invitation"})
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

# Same-length substitutions so spans found in the normalised text index the original.
_MACRO_TOKEN = re.compile(r"(?<!\\)[A-Z][A-Z_]+")
_WORD = re.compile(r"[\w']+")
_NEGATOR = re.compile(r"^(?:not|no|nor|without|n't)$|n't$")
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n]|\b(?:and|but|so|because|though|although|while)\b")
_DOUBLE_QUOTED = re.compile(r'"[^"\n]{1,400}"')
_SINGLE_QUOTED = re.compile(r"(?<!\w)'(?=\w)[^\n]{1,400}?(?<=\S)'(?!\w)")
_LETTER_RUN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_BANG_RUN = re.compile(r"[!?¡]{2,}")
_SECOND_PERSON = re.compile(r"\byou(?:r|rs|rself|'re|'ve|'d|'ll)?\b")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Finding:
    """One problem in the text, pointing at the words that caused it."""

    kind: str
    start: int
    end: int
    excerpt: str
    explanation: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Feedback:
    """The result of analyse(): a verdict, a 0..100 score, findings and a calmer rewrite."""

    verdict: str
    score: int
    findings: list[Finding] = field(default_factory=list)
    rewrite: str = ""
    positives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "findings": [f.to_dict() for f in self.findings],
            "rewrite": self.rewrite,
            "positives": list(self.positives),
        }


@dataclass(frozen=True)
class _KindRule:
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
    kinds: dict[str, _KindRule]
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


@dataclass(frozen=True)
class _Text:
    """The analysed prefix in both forms plus precomputed clause and quote boundaries."""

    original: str
    norm: str
    break_starts: list[int]
    break_ends: list[int]
    reported: tuple[tuple[int, int], ...]
    context: int = 200
    max_matches: int = 40


# --------------------------------------------------------------------------- rules loading


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


def _kind_rule(name: str, spec: dict[str, Any], macros: dict[str, str]) -> _KindRule:
    regexes = list(_compile_all(spec.get("patterns"), macros))
    phrases = [_phrase_regex(str(p), macros) for p in spec.get("phrases") or ()]
    if phrases:
        regexes.append(re.compile("|".join(phrases)))
    return _KindRule(
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
    floor = (raw["kinds"].get("learned") or {}).get("kind_floor", 0.0)
    if isinstance(floor, bool) or not isinstance(floor, (int, float)):
        raise ValueError("kinds.learned.kind_floor must be a number, e.g. -0.5")
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
    )


# --------------------------------------------------------------------------- text preparation


def _normalise(text: str) -> str:
    """Lower-case and straighten quotes without changing the length (spans must stay valid)."""
    quoted = text.translate(STRAIGHT)
    lowered = quoted.lower()
    if len(lowered) == len(quoted):
        return lowered
    # A few characters (e.g. 'İ') grow when lower-cased; keep those as they are.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in quoted)


def _quote_regions(norm: str, min_words_outside: int) -> tuple[tuple[int, int], ...]:
    """Quoted stretches the writer attributes to someone else (enough own words around them)."""
    regions = [m.span() for m in _DOUBLE_QUOTED.finditer(norm)]
    for m in _SINGLE_QUOTED.finditer(norm):
        if not any(s <= m.start() < e for s, e in regions):
            regions.append(m.span())
    if not regions:
        return ()
    regions.sort()
    outside, last = [], 0
    for s, e in regions:
        outside.append(norm[last:s])
        last = e
    outside.append(norm[last:])
    if len(_WORD.findall(" ".join(outside))) < min_words_outside:
        return ()  # the whole message is quoted: these are the writer's own words
    return tuple(regions)


def _prepare(text: str, rules: FeedbackRules) -> _Text:
    limits = rules.raw.get("limits") or {}
    original = text[: int(limits.get("max_chars", 5000))]
    norm = _normalise(original)
    breaks = [m.span() for m in _CLAUSE_BREAK.finditer(norm)]
    reported = _quote_regions(norm, int(limits.get("reported_quote_min_words", 3)))
    return _Text(
        original=original,
        norm=norm,
        break_starts=[s for s, _ in breaks],
        break_ends=[e for _, e in breaks],
        reported=reported,
        context=int(limits.get("context_chars", 200)),
        max_matches=int(limits.get("max_matches_per_rule", 40)),
    )


def _clause_bounds(t: _Text, start: int, end: int) -> tuple[int, int]:
    """Start of the clause holding `start` and end of the one holding `end`.

    Capped at `context` characters either side so unpunctuated walls of text stay cheap.
    """
    i = bisect.bisect_right(t.break_ends, start) - 1
    clause_start = max(t.break_ends[i] if i >= 0 else 0, start - t.context)
    j = bisect.bisect_left(t.break_starts, end)
    clause_end = t.break_starts[j] if j < len(t.break_starts) else len(t.norm)
    return min(clause_start, start), max(min(clause_end, end + t.context), end)


def _in_reported(t: _Text, start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in t.reported)


def _negated(prefix: str, window: int) -> bool:
    """A negator among the last few words before a match ('I'm not saying you never...')."""
    words = _WORD.findall(prefix)
    if "if" in words:
        return False  # "if you weren't such a coward" still presupposes the label
    return any(_NEGATOR.search(w) for w in words[-window:])


# --------------------------------------------------------------------------- detection


def _make_finding(rule: _KindRule, t: _Text, start: int, end: int) -> Finding:
    excerpt = t.original[start:end]
    short = excerpt if len(excerpt) <= 80 else excerpt[:77] + "..."
    return Finding(
        kind=rule.name,
        start=start,
        end=end,
        excerpt=excerpt,
        explanation=rule.explanation,
        suggestion=rule.suggestion.replace("{excerpt}", short),
    )


def _match_span(m: re.Match[str]) -> tuple[int, int]:
    if "m" in m.re.groupindex and m.group("m") is not None:
        return m.span("m")
    return m.span()


def _accept(rule: _KindRule, t: _Text, start: int, end: int, window: int) -> bool:
    """Apply quote, negation and context exceptions to one raw match."""
    if end <= start or _in_reported(t, start, end):
        return False
    clause_start, clause_end = _clause_bounds(t, start, end)
    prefix = t.norm[clause_start:start]
    if rule.negatable and _negated(prefix, window):
        return False
    if any(p.search(prefix) for p in rule.unless_before):
        return False
    suffix = t.norm[end:clause_end]
    return not any(p.search(suffix) for p in rule.unless_after)


def _find_kind(rule: _KindRule, t: _Text, window: int) -> list[Finding]:
    found: list[Finding] = []
    for regex in rule.regexes:
        for n, m in enumerate(regex.finditer(t.norm)):
            if n >= t.max_matches:
                break
            start, end = _match_span(m)
            if _accept(rule, t, start, end, window):
                found.append(_make_finding(rule, t, start, end))
    return found


def _is_shout_word(token: str, rules: FeedbackRules) -> bool:
    letters = token.replace("'", "")
    if len(letters) < 2 or not token.isupper() or token.upper() in rules.acronyms:
        return False
    return len(letters) >= 4 or token.lower() in rules.short_shout_words


def _find_shouting(t: _Text, rules: FeedbackRules) -> list[Finding]:
    """Capitalised words (not acronyms) and runs of '!!', merged into readable spans."""
    rule = rules.kinds["shouting"]
    text = t.original.translate(STRAIGHT)
    spans: list[list[int]] = []
    for m in _LETTER_RUN.finditer(text):
        if not _is_shout_word(m.group(0), rules):
            continue
        if spans and not re.search(r"[^\W\d_]", text[spans[-1][1] : m.start()]):
            spans[-1][1] = m.end()
        else:
            spans.append([m.start(), m.end()])
    min_bangs = int(rules.raw["kinds"]["shouting"].get("min_run_exclamations", 2))
    for m in _BANG_RUN.finditer(text):
        if m.group(0).count("!") >= min_bangs:
            spans.append([m.start(), m.end()])
    return [_make_finding(rule, t, s, e) for s, e in spans if not _in_reported(t, s, e)]


def _dedupe(findings: list[Finding], rules: FeedbackRules) -> list[Finding]:
    """Drop same-kind overlaps and order by severity, then position."""
    findings.sort(key=lambda f: (rules.order.get(f.kind, 99), f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for f in findings:
        if any(k.kind == f.kind and k.start < f.end and f.start < k.end for k in kept):
            continue
        kept.append(f)
    return kept


def _positive_hits(t: _Text, rules: FeedbackRules, window: int) -> dict[str, list[tuple[int, int]]]:
    """Spans of each positive signal outside reported quotes and not negated."""
    hits: dict[str, list[tuple[int, int]]] = {}
    for name, regexes in rules.positives.items():
        for regex in regexes:
            for n, m in enumerate(regex.finditer(t.norm)):
                if n >= t.max_matches:
                    break
                if _in_reported(t, *m.span()):
                    continue
                clause_start, _ = _clause_bounds(t, m.start(), m.end())
                if name != "i_statement" and _negated(t.norm[clause_start : m.start()], window):
                    continue
                hits.setdefault(name, []).append(m.span())
    for n, m in enumerate(rules.feeling_re.finditer(t.norm)):
        if n >= t.max_matches:
            break
        if not _in_reported(t, *m.span()):
            hits.setdefault("named_feeling", []).append(m.span())
    return hits


def _drop_accusing_questions(
    hits: dict[str, list[tuple[int, int]]], findings: list[Finding]
) -> None:
    """A '?' that ends an accusation or a sarcastic question is not an invitation."""
    harsh_ends = [f.end for f in findings if f.kind in ("accusation_question", "contempt")]
    spans = hits.get("invitation", [])
    kept = [s for s in spans if not any(0 <= s[0] - e <= 120 for e in harsh_ends)]
    if kept:
        hits["invitation"] = kept
    else:
        hits.pop("invitation", None)


# --------------------------------------------------------------------------- behaviour phrase


def _sanitise(text: str) -> str:
    """Control characters out, whitespace collapsed: safe to echo back in one line."""
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return _SPACES.sub(" ", text).strip()


def _clean_phrase(phrase: str, rules: FeedbackRules) -> str:
    """A quoted-back fragment without absolutes and filler ("always", "obviously")."""
    phrase = rules.behaviour_drop.sub("", _sanitise(phrase))
    return _SPACES.sub(" ", phrase).strip(" ,;:-\"'")


def _behaviour(t: _Text, rules: FeedbackRules, findings: list[Finding]) -> str | None:
    """The partner's behaviour in the user's own words, if a clean phrase can be found."""
    max_words = int((rules.raw.get("limits") or {}).get("max_behaviour_words", 14))
    bad = [(f.start, f.end) for f in findings if f.kind not in ("absolute", "shouting")]
    skip = 4  # a leading "you" may be shared with "why would you ..."
    for lead in rules.behaviour_leads:
        for n, m in enumerate(lead.finditer(t.norm)):
            if n >= t.max_matches:
                break
            start = m.start("b")
            stop = rules.behaviour_stop.search(t.norm, start)
            end = stop.start() if stop else len(t.norm)
            if end <= start or _in_reported(t, start, end):
                continue
            if any(s < end and start + skip < e for s, e in bad):
                continue
            sentence = max(t.norm.rfind(c, 0, start) for c in ".!?\n") + 1
            if rules.behaviour_reject.search(t.norm, sentence, end):
                continue
            words = t.original[start:end].split()
            if not words or len(words) > max_words:
                continue
            phrase = _clean_phrase(" ".join(words), rules)
            if phrase:
                return phrase[0].lower() + phrase[1:] if phrase[:3].lower() == "you" else phrase
    return None


def _thought(t: _Text, rules: FeedbackRules, findings: list[Finding]) -> str | None:
    """What follows "I feel like/that", to reframe as a story the speaker tells themself."""
    for f in findings:
        if f.kind != "thought_as_feeling":
            continue
        stop = rules.behaviour_stop.search(t.norm, f.end)
        end = stop.start() if stop else len(t.norm)
        if rules.behaviour_reject.search(t.norm, f.end, end):
            return None
        phrase = _clean_phrase(t.original[f.end : end], rules)
        words = phrase.split()
        if words and len(words) <= 16:
            return phrase
    return None


def _feeling_word(
    t: _Text, rules: FeedbackRules, hits: dict[str, list[tuple[int, int]]], verdict: str
) -> str:
    """The user's own feeling word if they named one; else a default that fits the verdict."""
    for s, e in sorted(hits.get("named_feeling", [])):
        word = _SPACES.sub(" ", t.norm[s:e])
        if word in rules.feelings and not _negated(t.norm[max(0, s - 40):s], 3):
            return rules.feelings[word]  # "I'm not angry, just sad": sad, never angry
    templates = rules.raw["rewrite"]
    if verdict == "harsh" and "default_feeling_harsh" in templates:
        return str(templates["default_feeling_harsh"])
    return str(templates.get("default_feeling", "uneasy"))


# --------------------------------------------------------------------------- verdict and score


def _missing_parts(
    t: _Text, rules: FeedbackRules, hits: dict[str, list[tuple[int, int]]], behaviour: str | None
) -> list[Finding]:
    """Gentle hints for a concern about the partner that lacks a feeling, behaviour or ask.

    A concern is a described behaviour of the partner, or a feeling aimed at them; replies
    such as "You're not a liar." raise none, so they get no hints.
    """
    outside = [m for m in _SECOND_PERSON.finditer(t.norm) if not _in_reported(t, *m.span())]
    softened = {"invitation", "appreciation", "own_part"} & hits.keys()
    has_feeling = "named_feeling" in hits
    is_concern = behaviour is not None or (has_feeling and bool(outside))
    if not outside or softened or not is_concern:
        return []
    has_behaviour = "specific_observation" in hits or behaviour is not None
    if has_feeling and has_behaviour:
        return []
    missing = []
    if not has_feeling:
        missing.append("no_feeling")
    if not has_behaviour:
        missing.append("no_specific_behavior")
    missing.append("no_invitation")
    return [_make_finding(rules.kinds[k], t, 0, 0) for k in missing]


def _too_short(t: _Text, rules: FeedbackRules) -> list[Finding]:
    """"ok" or "2" is no opener: say so, rather than praise it as calm."""
    rule = rules.kinds.get("too_short")
    if rule is None:
        return []
    min_words = int(rules.raw["kinds"]["too_short"].get("min_words", 3))
    if len(_WORD.findall(t.norm)) >= min_words:
        return []
    return [_make_finding(rule, t, 0, len(t.original))]


def _verdict(findings: list[Finding], rules: FeedbackRules) -> str:
    if any(rules.kinds[f.kind].severity == "harsh" for f in findings):
        return "harsh"
    threshold = int((rules.raw.get("scoring") or {}).get("harsh_mild_count", 2))
    if sum(f.kind in ("absolute", "demand") for f in findings) >= threshold:
        return "harsh"
    return "almost" if findings else "calm"


def _score(verdict: str, findings: list[Finding], positives: list[str],
           rules: FeedbackRules) -> int:
    """Weighted penalties and bonuses, clamped into the verdict's band so they never disagree."""
    scoring = rules.raw.get("scoring") or {}
    score = float(scoring.get("base", 75))
    seen: set[str] = set()
    for f in findings:
        weight = rules.kinds[f.kind].weight
        score -= weight * (float(scoring.get("repeat_factor", 0.5)) if f.kind in seen else 1.0)
        seen.add(f.kind)
    score += float(scoring.get("positive_bonus", 5)) * len(positives)
    low, high = (scoring.get("bands") or {}).get(verdict, (0, 100))
    return int(max(low, min(high, round(score))))


def _rewrite(
    t: _Text,
    rules: FeedbackRules,
    verdict: str,
    findings: list[Finding],
    hits: dict[str, list[tuple[int, int]]],
    behaviour: str | None,
    role: str | None = None,
) -> str:
    """A calmer version in the person's words. The hurt partner is never handed an apology."""
    templates = rules.raw["rewrite"]
    max_echo = int((rules.raw.get("limits") or {}).get("max_echo_chars", 600))
    stripped = _sanitise(t.original) if verdict == "calm" else ""
    if verdict == "calm" and stripped and len(stripped) <= max_echo:
        return stripped
    feeling = _feeling_word(t, rules, hits, verdict)
    if any(f.kind in ("policing", "access_request") for f in findings) and (
            "policing" in templates):
        return str(templates["policing"]).format(feeling=feeling)
    if role == "crossed" and ("own_part" in hits or OWNING_KINDS & {f.kind for f in findings}):
        return str(templates["apology"])
    if role is None and "own_part" in hits:
        return str(templates.get("apology_any", templates["apology"]))
    if role == "crossed" and verdict != "calm":
        return str(templates["apology"])  # their opener owns what they did, not a complaint
    thought = _thought(t, rules, findings)
    if behaviour:
        return str(templates["opener"]).format(behaviour=behaviour, feeling=feeling)
    if thought:
        return str(templates["thought"]).format(thought=thought, feeling=feeling)
    return str(templates["opener_no_behaviour"]).format(feeling=feeling)


# --------------------------------------------------------------------------- public API


def _empty_feedback(rules: FeedbackRules) -> Feedback:
    rule = rules.kinds["empty"]
    finding = Finding("empty", 0, 0, "", rule.explanation, rule.suggestion)
    score = int(((rules.raw.get("scoring") or {}).get("bands") or {}).get("almost", [50])[0])
    return Feedback("almost", score, [finding], str(rules.raw["rewrite"]["empty"]), [])


def _analyse(text: str, rules: FeedbackRules, setting: Setting) -> Feedback:
    t = _prepare(text, rules)
    if not t.norm.strip():
        return _empty_feedback(rules)
    window = int((rules.raw.get("limits") or {}).get("negation_window", 4))
    findings: list[Finding] = []
    for name in PATTERN_KINDS:
        rule = rules.kinds.get(name)
        if rule is not None and rule.for_speaker(setting.role):
            findings.extend(_find_kind(rule, t, window))
    findings.extend(_find_shouting(t, rules))
    findings = _dedupe(findings, rules)
    if not findings and not any(c.isalnum() for c in t.norm):
        return _empty_feedback(rules)
    hits = _positive_hits(t, rules, window)
    _drop_accusing_questions(hits, findings)
    behaviour = _behaviour(t, rules, findings)
    if not findings:
        findings = _too_short(t, rules) or _missing_parts(t, rules, hits, behaviour)
    findings = findings[: int((rules.raw.get("limits") or {}).get("max_findings", 20))]
    positives = [name for name in POSITIVE_KINDS if name in hits]
    verdict = _verdict(findings, rules)
    score = _score(verdict, findings, positives, rules)
    rewrite = _rewrite(t, rules, verdict, findings, hits, behaviour, setting.role)
    return Feedback(verdict, score, findings, rewrite, positives)


def shipped_learned() -> LearnedReader | None:
    """The shipped examples' reader, for flows folders without examples of their own."""
    return shipped_reader(EXAMPLES_FILE, VERDICTS, "verdict")


def _with_learned(found: Feedback, text: str, rules: FeedbackRules, setting: Setting,
                  reading: Reading) -> Feedback:
    """A line the rules call calm that reads as "almost" or "harsh" against the examples:
    the verdict follows, with the line it most resembles named."""
    verdict = reading.label_away("calm", len(reading.nearest))
    spec = rules.raw["kinds"]["learned"]
    like = _resembles(reading, verdict)
    words = (spec.get("verdict_words") or {}).get(verdict, verdict)
    kind = _kind_read(reading, spec, rules, setting.role)
    rule = rules.kinds[kind]
    if kind == "learned":
        explanation = rule.explanation.format(verdict=words, like=like)
    else:
        explanation = f"{rule.explanation} " + str(spec.get("because", "")).format(
            verdict=words, like=like)
    finding = Finding(kind, 0, 0, "", explanation, rule.suggestion)
    t = _prepare(text, rules)
    window = int((rules.raw.get("limits") or {}).get("negation_window", 4))
    hits = _positive_hits(t, rules, window)
    findings = [finding]
    behaviour = _behaviour(t, rules, findings)
    positives = list(found.positives)
    score = _score(verdict, findings, positives, rules)
    rewrite = _rewrite(t, rules, verdict, findings, hits, behaviour, setting.role)
    return Feedback(verdict, score, findings, rewrite, positives)


def _kind_read(reading: Reading, spec: dict, rules: FeedbackRules, role: str | None) -> str:
    """The kind the learned stage reads most in the line, in the rules' names (the examples'
    own names mapped by `kinds_from_examples`), among those the coach can explain to this
    speaker, when it reads it at least `kind_floor` strongly; "learned" otherwise, so the
    person hears what to change only when the reading is clear enough to say it."""
    names = spec.get("kinds_from_examples") or {}
    read: dict[str, float] = {}
    for kind, score in reading.kind_scores.items():
        name = names.get(kind, kind)
        rule = rules.kinds.get(name)
        if name in PATTERN_KINDS and rule is not None and rule.for_speaker(role):
            read[name] = max(score, read.get(name, score))
    if not read:
        return "learned"
    kind = max(read, key=read.__getitem__)
    return kind if read[kind] >= float(spec.get("kind_floor", 0.0)) else "learned"


def _resembles(reading: Reading, verdict: str) -> str:
    """The nearest example with this verdict, as the explanation's "like"."""
    texts = [e.text for e, _similarity in reading.nearest if e.label == verdict]
    text = texts[0] if texts else ""
    return text if len(text) <= MAX_LIKE_CHARS else text[:MAX_LIKE_CHARS].rsplit(" ", 1)[0] + "…"


def analyse(text: str, rules: FeedbackRules | None = None, setting: Setting = NO_SETTING,
            learned: LearnedReader | None = None) -> Feedback:
    """Analyse one message with `rules` (the flows' own, loaded with the catalog; the shipped
    ones when none are given), said by `setting.role`; `learned` reads a line the rules found
    nothing to change in. Never raises on any input; rule-file errors do surface."""
    rules = rules or compiled_rules()
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        found = _analyse(text, rules, setting)
        # A line the rules find built like a calm one (an I-statement with a feeling, a
        # specific observation, an invitation) is not overruled by a resemblance.
        built_calm = len(CALM_BUILDING & set(found.positives)) >= 2
        reading = learned.leans_away(text, "calm") if (
            learned is not None and found.verdict == "calm" and not built_calm) else None
        if reading is not None:
            return _with_learned(found, text, rules, setting, reading)
        return found
    except Exception:  # a bug must not take the conversation down; log and degrade
        log.exception("feedback analysis failed")
        return Feedback("almost", 50, [], str(rules.raw["rewrite"]["empty"]), [])
