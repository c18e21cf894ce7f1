"""Help lines per region and category, from `flows/safety/resources.yaml` (operator-edited)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.flowlang.errors import FlowProblem, did_you_mean
from bot.flowlang.source import load_source

RESOURCES_FILE = Path("safety") / "resources.yaml"
CATEGORIES = ("general", "violence", "coercive_control", "self_harm")
REGION_KEYS = ("name", "emergency", *CATEGORIES)
NOTE_KEYS = ("heading", "no_local_line")


@dataclass(frozen=True)
class Region:
    name: str
    emergency: str
    lines: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Resources:
    default: str
    regions: dict[str, Region]
    notes: dict[str, str]

    def text(self, category: str, region: str | None) -> str:
        """The emergency line, then the lines for this category: the region's own when it
        has them, otherwise the international ones with a note saying so."""
        fallback = self.regions[self.default]
        chosen = self.regions.get((region or "").casefold())
        local = chosen.lines.get(category) if chosen and chosen is not fallback else None
        out = [self.notes["heading"], (chosen or fallback).emergency]
        if not local:
            out.append(self.notes["no_local_line"])
        out += [f"• {line}" for line in (local or fallback.lines[category])]
        return "\n".join(out)


def load_resources(path: Path) -> tuple[Resources | None, list[FlowProblem]]:
    doc, problems = load_source(path)
    if doc is None:
        return None, problems
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem((), "the resources file must be a mapping")]
    regions: dict[str, Region] = {}
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, dict) or not raw_regions:
        return None, [doc.problem((), "'regions' must map region keys to their help lines")]
    for key, raw in raw_regions.items():
        at = ("regions", key)
        if not isinstance(raw, dict):
            problems.append(doc.problem(at, f"region '{key}' must be a mapping"))
            continue
        for field in raw:
            if field not in REGION_KEYS:
                problems.append(doc.problem((*at, field), f"unknown key '{field}'"
                                            f"{did_you_mean(str(field), REGION_KEYS)}", key=True))
        lines: dict[str, tuple[str, ...]] = {}
        for category in CATEGORIES:
            value = raw.get(category, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                problems.append(doc.problem((*at, category), f"'{category}' must be a list of "
                                                             "lines of text"))
                continue
            lines[category] = tuple(value)
        if not isinstance(raw.get("emergency"), str) or not isinstance(raw.get("name"), str):
            problems.append(doc.problem(at, f"region '{key}' needs 'name' and 'emergency' text"))
            continue
        regions[str(key).casefold()] = Region(raw["name"], raw["emergency"], lines)
    default = str(data.get("default", "")).casefold()
    if default not in regions:
        problems.append(doc.problem(("default",), f"default region '{default}' is not listed "
                                                  "under 'regions'"))
    elif not all(regions[default].lines.get(c) for c in CATEGORIES):
        problems.append(doc.problem(("regions", default), "the default region needs lines "
                                    f"for every category: {', '.join(CATEGORIES)}"))
    notes = data.get("notes", {})
    if not isinstance(notes, dict) or any(not isinstance(notes.get(k), str) for k in NOTE_KEYS):
        problems.append(doc.problem(("notes",), f"'notes' needs text for {', '.join(NOTE_KEYS)}"))
    if problems:
        return None, problems
    return Resources(default, regions, {k: notes[k] for k in NOTE_KEYS}), []
