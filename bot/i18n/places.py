"""Where the coach's sentences are in a flows folder, and the stable id of each.

English stays inline in the YAML; a translation names a sentence by its place (`talk.opener.say`,
`talk.opener.choices.2`, `core.help`, `coach.partner_crossed.styles.defensive...`), so the flows
keep their structure once and translators edit only .po files. Only the listed places are text.
A slot name, a rule pattern or a `set:` value the program decides by stays out of the catalogs;
a `set:` value that stands for the person's own words (a slot the flow lists under `words:`),
and the words a step looks for in what people type (`strip_prefix`, `slot_mentions`), are
translated, so a tapped "hurt" is "dolido/a" in Spanish and a typed "miedo" is heard as fear.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.flowlang.source import PathKey, SourceDoc
from bot.i18n.catalog import without_placeholders

# In every flow file (flows/*.yaml): what a step says, its buttons and skip label, the title.
FLOW_TEXTS = ("title", "states.*.say", "states.*.say.*", "states.*.choices.*.label",
              "states.*.ask.skip", "states.*.do.*.compose_answers.*")
# The files kept beside the flows: (text places, places under them that are not text).
DATA_TEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core/messages.yaml": (("*",), ()),
    "safety/resources.yaml": (("regions.*.name", "regions.*.emergency", "regions.*.*.*",
                               "notes.*"), ()),
    "coach/coaching.yaml": (("feedback.**", "answers.**", "roleplay.**"),
                            ("roleplay.moves.**", "roleplay.not_names.**",
                             "roleplay.owning.**")),
    "coach/partner_hurt.yaml": (("styles.*.label", "styles.*.answers.**"), ()),
    "coach/partner_crossed.yaml": (("styles.*.label", "styles.*.answers.**"), ()),
    "coach/plan.yaml": (("title", "empty", "*.heading", "heated.*.*", "sections.*.heading",
                         "sections.*.slots.*"), ()),
    "coach/checkins.yaml": (("late", "weekdays.*", "when_once", "when_weekly", "quiet",
                             "quiet_none", "list_*", "progress_*", "legend", "picture_legend",
                             "commitments.*", "export_title"), ()),
    "coach/together.yaml": (("partner", "topics.*.title", "topics.*.questions.*",
                             "topics.*.try_saying", "texts.*"), ()),
    "coach/feedback_rules.yaml": (("kinds.*.explanation", "kinds.*.suggestion",
                                   "kinds.learned.because", "kinds.learned.*_alone",
                                   "kinds.learned.verdict_words.*"),
                                  ()),
}
# The id prefix of a data file is its path with dots (`coach.coaching`), except these.
PREFIXES = {"core/messages.yaml": "core"}


@dataclass(frozen=True)
class Place:
    """One sentence: its id, its English, and where that English is (file relative to the
    flows folder, with `/`)."""

    ctxt: str
    text: str
    file: str
    line: int


def is_text_file(rel: str) -> bool:
    return rel in DATA_TEXTS or ("/" not in rel and rel.endswith(".yaml"))


def _patterns(rel: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if rel in DATA_TEXTS:
        return DATA_TEXTS[rel]
    return (FLOW_TEXTS, ()) if is_text_file(rel) else ((), ())


def _matches(pattern: str, path: PathKey) -> bool:
    """`a.*.b` matches one part per `*`; a final `.**` matches any depth below."""
    parts = pattern.split(".")
    names = [str(p) for p in path]
    if parts[-1] == "**":
        head = parts[:-1]
        return len(names) > len(head) and all(
            fnmatch.fnmatchcase(n, p) for n, p in zip(names, head, strict=False))
    return len(names) == len(parts) and all(
        fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts, strict=True))


def is_text(rel: str, path: PathKey, words: tuple[str, ...] = ()) -> bool:
    """Whether the value at `path` is text; `words` are the flow's `words:` slots."""
    include, exclude = _patterns(rel)
    if any(_matches(p, path) for p in include):
        return not any(_matches(p, path) for p in exclude)
    return "/" not in rel and (_is_words_value(path, words) or _is_typed_words(path))


def _is_words_value(path: PathKey, words: tuple[str, ...]) -> bool:
    """`states.S.choices.N.set.SLOT` for a slot holding the person's words."""
    return (len(path) == 6 and path[0] == "states" and path[2] == "choices"
            and path[4] == "set" and path[5] in words)


def _is_typed_words(path: PathKey) -> bool:
    """One entry of a list of words people type: a step's `strip_prefix`, the cues of a
    `slot_mentions` or `slot_has_words` condition."""
    if not path or path[0] != "states" or not isinstance(path[-1], int):
        return False
    return path[2:4] == ("ask", "strip_prefix") or bool(
        {"slot_mentions", "slot_has_words"} & set(path[:-1]))


def flow_words(data: Any) -> tuple[str, ...]:
    """The slots a flow file names under `words:` (checked by the flow parser)."""
    words = data.get("words") if isinstance(data, dict) else None
    return tuple(str(w) for w in words) if isinstance(words, list) else ()


def ctxt_of(rel: str, path: PathKey) -> str:
    """The id of the text at `path` in the file `rel`: `talk.opener.say.1`, `core.help`."""
    parts = [str(p) for p in path]
    if "/" not in rel:
        prefix = rel.removesuffix(".yaml")
        if parts[:1] == ["states"]:
            parts = parts[1:]
        if len(parts) >= 3 and parts[-3] == "choices" and parts[-1] == "label":
            parts = parts[:-1]
        if parts[-2:] == ["ask", "skip"]:
            parts = [*parts[:-2], "skip"]
    else:
        prefix = PREFIXES.get(rel) or rel.removesuffix(".yaml").replace("/", ".")
    return ".".join([prefix, *parts])


def leaves(data: Any, at: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Every text value with its path, in file order."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*at, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from leaves(value, (*at, index))
    elif isinstance(data, str):
        yield at, data


def places(rel: str, doc: SourceDoc) -> list[Place]:
    """The sentences of one file, in file order."""
    words = flow_words(doc.data) if "/" not in rel else ()
    return [Place(ctxt_of(rel, path), text, rel, doc.pos(path)[0])
            for path, text in leaves(doc.data) if _translated(rel, path, words, text)]


Lookup = Callable[[str, str], str]  # (id, English) -> the text to use
# In a translated entry of a word list, alternatives for the one English entry.
WORD_SEPARATOR = "|"


def overlay(rel: str, data: Any, lookup: Lookup, at: PathKey = (),
            words: tuple[str, ...] | None = None) -> Any:
    """A copy of `data` with each sentence replaced by `lookup`; everything else shared."""
    if words is None:
        words = flow_words(data) if "/" not in rel else ()
    if isinstance(data, dict):
        return {key: overlay(rel, value, lookup, (*at, key), words)
                for key, value in data.items()}
    if isinstance(data, list):
        out: list[Any] = []
        for index, value in enumerate(data):
            found = overlay(rel, value, lookup, (*at, index), words)
            if isinstance(value, str) and _is_typed_words((*at, index)):
                # a language may need several words for one: "le fui infiel | la engañé"
                out += [w.strip() for w in str(found).split(WORD_SEPARATOR) if w.strip()]
            else:
                out.append(found)
        return out
    if isinstance(data, str) and _translated(rel, at, words, data):
        return lookup(ctxt_of(rel, at), data)
    return data


def _translated(rel: str, path: PathKey, words: tuple[str, ...], text: str) -> bool:
    """Text at a place, except a button value that only carries a slot on (`${best_opener}`)."""
    if not is_text(rel, path, words):
        return False
    return not _is_words_value(path, words) or any(
        c.isalpha() for c in without_placeholders(text))
