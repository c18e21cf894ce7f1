"""Deterministic, explainable calm-language feedback for rehearsing a hard talk.

Rules rather than a model, so every finding points at the exact words that caused it and
the same text always gets the same answer. The rules follow Gottman's gentle start-up (no
blame, criticism or contempt), Nonviolent Communication (observation, feeling, request) and
I-statements. All word lists and every user-facing sentence live in
``flows/coach/feedback_rules.yaml``; this module only knows how to apply them.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.coach.feedback_rules import (
    OWNING_KINDS,
    PATTERN_KINDS,
    POSITIVE_KINDS,
    VERDICTS,
    FeedbackRules,
    compiled_rules,
)
from bot.coach.feedback_text import (
    SECOND_PERSON,
    SPACES,
    WORD,
    Finding,
    Hits,
    PreparedText,
    dedupe,
    drop_accusing_questions,
    find_kind,
    find_shouting,
    in_reported,
    make_finding,
    negated,
    normalise,
    positive_hits,
    prepare,
)
from bot.setting import NO_SETTING, Setting
from bot.understanding.examples import shipped_reader
from bot.understanding.learned import LearnedReader, Reading

log = logging.getLogger(__name__)

LEARNED = "feedback_learned"  # the learned stage, offered under this name (bot/app.py)
EXAMPLES_FILE = "coach/feedback_examples.yaml"
MAX_LIKE_CHARS = 120  # an example quoted in a finding stays a phone line long
# The parts of a calm line, when the rules file names none (kinds.learned.calm_building): two
# of them and a resemblance does not overrule the rules.
CALM_BUILDING = ("named_feeling", "specific_observation", "invitation")


@dataclass(frozen=True)
class Feedback:
    """The result of analyse(): a verdict, a 0..100 score, findings and a calmer rewrite."""

    verdict: str
    score: int
    findings: list[Finding] = field(default_factory=list)
    rewrite: str = ""
    positives: list[str] = field(default_factory=list)
    # False for a line in a language the rules cannot read: no verdict to trust, no score.
    read: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "findings": [f.to_dict() for f in self.findings],
            "rewrite": self.rewrite,
            "positives": list(self.positives),
            "read": self.read,
        }


# --------------------------------------------------------------------------- behaviour phrase


def _sanitise(text: str) -> str:
    """Control characters out, whitespace collapsed: safe to echo back in one line."""
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return SPACES.sub(" ", text).strip()


def _clean_phrase(phrase: str, rules: FeedbackRules) -> str:
    """A quoted-back fragment without absolutes and filler ("always", "obviously")."""
    phrase = rules.behaviour_drop.sub("", _sanitise(phrase))
    return SPACES.sub(" ", phrase).strip(" ,;:-\"'")


def _behaviour(t: PreparedText, rules: FeedbackRules, findings: list[Finding]) -> str | None:
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
            if end <= start or in_reported(t, start, end):
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


def _thought(t: PreparedText, rules: FeedbackRules, findings: list[Finding]) -> str | None:
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
    t: PreparedText, rules: FeedbackRules, hits: Hits, verdict: str
) -> str:
    """The user's own feeling word if they named one; else a default that fits the verdict."""
    for s, e in sorted(hits.get("named_feeling", [])):
        word = SPACES.sub(" ", t.norm[s:e])
        if word in rules.feelings and not negated(t.norm[max(0, s - 40):s], 3):
            return rules.feelings[word]  # "I'm not angry, just sad": sad, never angry
    templates = rules.raw["rewrite"]
    if verdict == "harsh" and "default_feeling_harsh" in templates:
        return str(templates["default_feeling_harsh"])
    return str(templates.get("default_feeling", "uneasy"))


# --------------------------------------------------------------------------- verdict and score


def _missing_parts(
    t: PreparedText, rules: FeedbackRules, hits: Hits, behaviour: str | None
) -> list[Finding]:
    """Gentle hints for a concern about the partner that lacks a feeling, behaviour or ask.

    A concern is a described behaviour of the partner, or a feeling aimed at them; replies
    such as "You're not a liar." raise none, so they get no hints.
    """
    outside = [m for m in SECOND_PERSON.finditer(t.norm) if not in_reported(t, *m.span())]
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
    return [make_finding(rules.kinds[k], t, 0, 0) for k in missing]


def _too_short(t: PreparedText, rules: FeedbackRules) -> list[Finding]:
    """"ok" or "2" is no opener: say so, rather than praise it as calm."""
    rule = rules.kinds.get("too_short")
    if rule is None:
        return []
    min_words = int(rules.raw["kinds"]["too_short"].get("min_words", 3))
    if len(WORD.findall(t.norm)) >= min_words:
        return []
    return [make_finding(rule, t, 0, len(t.original))]


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
    t: PreparedText,
    rules: FeedbackRules,
    verdict: str,
    findings: list[Finding],
    hits: Hits,
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
    watching = [f for f in findings if f.kind in ("policing", "access_request")]
    # A resemblance alone (no words found) is no ground to hand the one who crossed a line a
    # line about openness instead of their apology.
    if watching and "policing" in templates and not (
            role == "crossed" and not any(f.excerpt for f in watching)):
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
    t = prepare(text, rules)
    if not t.norm.strip():
        return _empty_feedback(rules)
    window = int((rules.raw.get("limits") or {}).get("negation_window", 4))
    findings: list[Finding] = []
    for name in PATTERN_KINDS:
        rule = rules.kinds.get(name)
        if rule is not None and rule.for_speaker(setting.role):
            findings.extend(find_kind(rule, t, window))
    findings.extend(find_shouting(t, rules))
    findings = dedupe(findings, rules)
    if not findings and not any(c.isalnum() for c in t.norm):
        return _empty_feedback(rules)
    hits = positive_hits(t, rules, window)
    drop_accusing_questions(hits, findings)
    behaviour = _behaviour(t, rules, findings)
    if not findings:
        findings = _too_short(t, rules) or _missing_parts(t, rules, hits, behaviour)
    findings = findings[: int((rules.raw.get("limits") or {}).get("max_findings", 20))]
    positives = [name for name in POSITIVE_KINDS if name in hits]
    verdict = _verdict(findings, rules)
    score = _score(verdict, findings, positives, rules)
    rewrite = _rewrite(t, rules, verdict, findings, hits, behaviour, setting.role)
    return Feedback(verdict, score, findings, rewrite, positives)


def _unread(rules: FeedbackRules) -> Feedback:
    """A line in a language the rules cannot read: said so, never judged with English words."""
    low, high = ((rules.raw.get("scoring") or {}).get("bands") or {}).get("almost", (50, 50))
    return Feedback("almost", (int(low) + int(high)) // 2, [], "", [], read=False)


def describes_watching(text: str, rules: FeedbackRules | None = None,
                       setting: Setting = NO_SETTING) -> bool:
    """The line describes watching or checking the partner (their phone, messages,
    location), by the rules' words alone, never a resemblance: a policing finding where the
    rules judge the language, their `watching_unread` words where they cannot."""
    rules = rules or compiled_rules()
    if setting.language in rules.languages:
        return any(f.kind == "policing" for f in analyse(text, rules, setting).findings)
    words = normalise(text if isinstance(text, str) else "")
    return any(p.search(words) for p in rules.watching_unread.get(setting.language, ()))


def shipped_learned() -> LearnedReader | None:
    """The shipped examples' reader, for flows folders without examples of their own."""
    return shipped_reader(EXAMPLES_FILE, VERDICTS, "verdict")


def _with_learned(found: Feedback, text: str, rules: FeedbackRules, setting: Setting,
                  reading: Reading) -> Feedback:
    """A line the rules call calm that reads as "almost" or "harsh" against the examples:
    the verdict follows, with the line it most resembles named."""
    verdict = reading.label_away("calm", len(reading.nearest))
    finding = _learned_finding(reading, verdict, rules, setting.role)
    return _judged(found, text, rules, setting, verdict, [finding])


def _harsher(found: Feedback, text: str, rules: FeedbackRules, setting: Setting,
             learned: LearnedReader) -> Feedback | None:
    """A line with something to change that reads as harsh against the examples, by the
    rules' `harsher_margin` over "almost": harsh, the rules' findings kept and the learned
    reading added after them (the kind it reads, and the example it resembles)."""
    margin = rules.raw["kinds"]["learned"].get("harsher_margin")
    if margin is None or not learned.can_read(text):
        return None
    reading = learned.read(text)
    if reading.scores["harsh"] - reading.scores["almost"] < float(margin):
        return None
    taken = frozenset(f.kind for f in found.findings)
    finding = _learned_finding(reading, "harsh", rules, setting.role, taken)
    return _judged(found, text, rules, setting, "harsh", [*found.findings, finding])


def _also_kind(found: Feedback, text: str, rules: FeedbackRules, setting: Setting,
               learned: LearnedReader) -> Feedback | None:
    """A line the rules call harsh for one thing is often another too ("Sorry I'm not perfect
    like you": the rules hear contempt, the examples a non-apology): the kind the examples
    read most, when it reaches `also_kind_floor` and the rules did not name it, is added
    after the rules' findings, with the example the line resembles."""
    spec = rules.raw["kinds"]["learned"]
    floor = spec.get("also_kind_floor")
    if floor is None or not learned.can_read(text):
        return None
    reading = learned.read(text)
    taken = frozenset(f.kind for f in found.findings)
    kind = _kind_read(reading, {**spec, "kind_floor": floor}, rules, setting.role)
    if kind == "learned" or kind in taken:
        return None
    finding = _learned_finding(reading, "harsh", rules, setting.role, taken, kind)
    return _judged(found, text, rules, setting, "harsh", [*found.findings, finding])


def _learned_finding(reading: Reading, verdict: str, rules: FeedbackRules, role: str | None,
                     taken: frozenset[str] = frozenset(), kind: str | None = None) -> Finding:
    """What the learned stage read, as a finding: `kind`, or the kind it reads (unless the
    rules already named it), or "learned", with the example the line resembles."""
    spec = rules.raw["kinds"]["learned"]
    like = _resembles(reading, verdict)
    words = (spec.get("verdict_words") or {}).get(verdict, verdict)
    kind = kind or _kind_read(reading, spec, rules, role)
    if kind in taken:
        kind = "learned"
    rule = rules.kinds[kind]
    # Without an example to show (the nearest are all calm), the sentences that name none.
    alone = "" if like else "_alone"
    if kind == "learned":
        explanation = str(spec.get(f"explanation{alone}") or rule.explanation).format(
            verdict=words, like=like)
    else:
        explanation = f"{rule.explanation} " + str(spec.get(f"because{alone}", "")).format(
            verdict=words, like=like)
    return Finding(kind, 0, 0, "", explanation, rule.suggestion)


def _judged(found: Feedback, text: str, rules: FeedbackRules, setting: Setting, verdict: str,
            findings: list[Finding]) -> Feedback:
    """The feedback for a verdict the learned stage changed: its score and calmer version."""
    t = prepare(text, rules)
    window = int((rules.raw.get("limits") or {}).get("negation_window", 4))
    hits = positive_hits(t, rules, window)
    positives = list(found.positives)
    score = _score(verdict, findings, positives, rules)
    rewrite = _rewrite(t, rules, verdict, findings, hits, _behaviour(t, rules, findings),
                       setting.role)
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
    """The nearest example with this verdict, as the explanation's "like"; failing one, the
    nearest that is not calm (a line read as harsh past "almost" may have only "almost"
    lines near it), so the example shown is not left empty."""
    texts = ([e.text for e, _similarity in reading.nearest if e.label == verdict]
             or [e.text for e, _similarity in reading.nearest if e.label != "calm"])
    text = texts[0] if texts else ""
    return text if len(text) <= MAX_LIKE_CHARS else text[:MAX_LIKE_CHARS].rsplit(" ", 1)[0] + "…"


def _built_calm(found: Feedback, rules: FeedbackRules) -> bool:
    """Two of the calm parts the rules file names (a feeling, a specific observation, an
    invitation): a resemblance does not overrule what the line is."""
    spec = (rules.raw.get("kinds") or {}).get("learned") or {}
    parts = spec.get("calm_building") or CALM_BUILDING
    return len(set(parts) & set(found.positives)) >= 2


def analyse(text: str, rules: FeedbackRules | None = None, setting: Setting = NO_SETTING,
            learned: LearnedReader | None = None) -> Feedback:
    """Analyse one message with `rules` (the flows' own, loaded with the catalog; the shipped
    ones when none are given), said by `setting.role`; `learned` reads a line the rules found
    nothing to change in. Never raises on any input; rule-file errors do surface."""
    rules = rules or compiled_rules()
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if setting.language not in rules.languages:
        return _unread(rules)
    try:
        found = _analyse(text, rules, setting)
        # A line the rules find built like a calm one (an I-statement with a feeling, a
        # specific observation, an invitation) is not overruled by a resemblance.
        reading = learned.leans_away(text, "calm") if (
            learned is not None and found.verdict == "calm"
            and not _built_calm(found, rules)) else None
        if reading is not None:
            return _with_learned(found, text, rules, setting, reading)
        if learned is not None and found.verdict == "almost":
            return _harsher(found, text, rules, setting, learned) or found
        if learned is not None and found.verdict == "harsh":
            return _also_kind(found, text, rules, setting, learned) or found
        return found
    except Exception:  # a bug must not take the conversation down; log and degrade
        log.exception("feedback analysis failed")
        return Feedback("almost", 50, [], str(rules.raw["rewrite"]["empty"]), [])
