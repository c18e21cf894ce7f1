"""One catalog per shipped language, built at start-up like the English one.

Why at load time: a sentence is read by many features through their own structures (the flows,
the core's messages, the coaching texts, the practice partner, the help lines, the plan). Each
file's data passes once through its language's translation as it loads, so every feature reads
its sentences in that language with no code of its own; placeholders (`${behavior}`) stay in the
translated text and are filled when a message is rendered, as in English.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.flowlang.catalog import Catalog, Features, check_paths
from bot.flowlang.errors import FlowProblem
from bot.flowlang.source import Overlay, text_overlay
from bot.i18n.catalog import DEFAULT, Translation, load_translation, locale_files
from bot.i18n.places import is_text_file, overlay

NAME = "core.language_name"  # a language's own name, on /language's button


def overlay_for(folder: Path, translation: Translation) -> Overlay:
    """The file hook that puts `translation` over the sentences of files in `folder`."""
    root = folder.resolve()

    def apply(name: str, data: Any) -> Any:
        try:
            rel = Path(name).resolve().relative_to(root).as_posix()
        except ValueError:
            return data
        return overlay(rel, data, translation.text) if is_text_file(rel) else data

    return apply


def load_translations(folder: Path, features: Features,
                      english: Catalog) -> tuple[dict[str, Catalog], list[FlowProblem]]:
    """The catalog of each language shipped in `folder`; a translation that breaks the flows
    (a button label too long, say) is reported with its language and not offered, and one
    that does not yet give its own name (the button /language shows) is not offered."""
    text_files = tuple(d for d in features.data_files if is_text_file(d.path.as_posix()))
    light = Features(features.registry, text_files, features.entry_states)
    catalogs: dict[str, Catalog] = {}
    problems: list[FlowProblem] = []
    for lang, path in locale_files(folder).items():
        try:
            translation = load_translation(path)
        except (OSError, ValueError) as exc:
            problems.append(FlowProblem(str(path), 1, 0, f"cannot read the translation: {exc}"))
            continue
        if NAME not in translation.entries:  # not offered before it can name itself
            continue
        with text_overlay(overlay_for(folder, translation)):
            catalog, found = check_paths([folder], light)
        if catalog is None:
            problems += [replace(p, message=f"in {lang} ({path.name}): {p.message}")
                         for p in found]
            continue
        catalog.services = {**english.services, **catalog.services}
        catalog.lang = lang
        catalogs[lang] = catalog
    return catalogs, problems


def with_languages(english: Catalog, folder: Path | None,
                   features: Features) -> list[FlowProblem]:
    """Attach the shipped languages to the English catalog (its `languages`, by code)."""
    english.languages = {DEFAULT: english}
    if folder is None:
        return []
    catalogs, problems = load_translations(folder, features, english)
    english.languages.update(catalogs)
    for catalog in catalogs.values():  # each knows them all, for /language's buttons
        catalog.languages = english.languages
    return problems
