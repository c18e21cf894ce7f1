"""Where the coach's sentences are in a flows folder, and the stable id of each.

English stays inline in the YAML; a translation names a sentence by its place (`talk.opener.say`,
`talk.opener.choices.2`, `core.help`, `coach.partner_crossed.styles.defensive...`), so the flows
keep their structure once and translators edit only .po files. Only the listed places are text:
a `set:` value, a slot name, a rule pattern or a word list that matches what people type is not
something the coach says, and stays out of the catalogs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.flowlang.source import PathKey, SourceDoc

# In every flow file (flows/*.yaml): what a step says, its buttons and skip label, the title.
FLOW_TEXTS = ("title", "states.*.say", "states.*.say.*", "states.*.choices.*.label",
              "states.*.ask.skip")
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
    "coach/together.yaml": (("partner", "topics.*.title", "topics.*.questions.*",
                             "topics.*.try_saying", "texts.*"), ()),
    "coach/feedback_rules.yaml": (("kinds.*.explanation", "kinds.*.suggestion",
                                   "kinds.learned.because", "kinds.learned.verdict_words.*"),
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


def is_text(rel: str, path: PathKey) -> bool:
    include, exclude = _patterns(rel)
    return any(_matches(p, path) for p in include) and not any(
        _matches(p, path) for p in exclude)


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
    return [Place(ctxt_of(rel, path), text, rel, doc.pos(path)[0])
            for path, text in leaves(doc.data) if is_text(rel, path)]


Lookup = Callable[[str, str], str]  # (id, English) -> the text to use


def overlay(rel: str, data: Any, lookup: Lookup, at: PathKey = ()) -> Any:
    """A copy of `data` with each sentence replaced by `lookup`; everything else shared."""
    if isinstance(data, dict):
        return {key: overlay(rel, value, lookup, (*at, key)) for key, value in data.items()}
    if isinstance(data, list):
        return [overlay(rel, value, lookup, (*at, index)) for index, value in enumerate(data)]
    if isinstance(data, str) and is_text(rel, at):
        return lookup(ctxt_of(rel, at), data)
    return data
