"""The editors' docs match the program: every registered condition and action is in the flow
language's tables with its argument (and every name there exists), every key a flow file may
use is described, the slots the core and the flows share are listed, and the transcripts'
coverage table names every transcript file."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import build_registry

# These imports also register every condition and action: the registry's own, the coach's
# (bot.coach.actions) and the safety path's (bot.safety.actions, imported by the pipeline).
from bot.coach.actions import FEEDBACK_SLOTS
from bot.coach.practice import ROLEPLAY_SLOTS
from bot.export import CONCERN_SLOT
from bot.flowlang.parse import ASK_KEYS, FLOW_KEYS, STATE_KEYS, TARGET_KEYS
from bot.pipeline import CONSENT_SLOT
from tests.conftest import REPO

FLOW_DOC = (REPO / "docs" / "flow-language.md").read_text(encoding="utf-8")
TRANSCRIPT_DOC = (REPO / "docs" / "transcripts.md").read_text(encoding="utf-8")

# How each kind of argument is written in the tables' "argument" column.
ARGUMENT = {
    "none": re.compile(r"^–$"),
    "slot": re.compile(r"^slot$"),
    "slots": re.compile(r"^slot or list$"),
    "slot_values": re.compile(r"^`\{slot: \w+, \.\.\.\}`$"),
    "slot_cues": re.compile(r"^`\{slot: \[cue, \.\.\.\]\}`$"),
    "text": re.compile(r"^`\w+`(, `\w+`)*( or `\w+`)?$"),
    "flow": re.compile(r"^flow$"),
    "config": re.compile(r"^setting$"),
    "mentions": re.compile(r"^`\{slot: \w+, any: \[phrases\], and_any: \[phrases\]\}`$"),
}


def _table(first_header: str) -> dict[str, str]:
    """name -> argument cell, for the table whose header row starts with `first_header`."""
    lines = FLOW_DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows: dict[str, str] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        names, argument = (cell.strip() for cell in line.strip("|").split("|")[:2])
        for name in re.findall(r"`(\w+)`", names):
            rows[name] = argument
    return rows


def test_every_condition_is_documented_with_its_argument() -> None:
    documented = _table("condition")
    assert sorted(documented) == sorted(build_registry().conditions)
    for name, entry in build_registry().conditions.items():
        assert ARGUMENT[entry.arg].match(documented[name]), (name, entry.arg, documented[name])


def test_every_action_is_documented_with_its_argument() -> None:
    documented = _table("action")
    assert sorted(documented) == sorted(build_registry().actions)
    for name, entry in build_registry().actions.items():
        assert ARGUMENT[entry.arg].match(documented[name]), (name, entry.arg, documented[name])


def test_every_key_of_a_flow_file_is_described() -> None:
    for key in (*FLOW_KEYS, *STATE_KEYS, *TARGET_KEYS, *ASK_KEYS, "if", "unless", "set",
                "label"):
        assert f"`{key}" in FLOW_DOC, key


def test_the_slots_the_core_and_the_flows_share_are_listed() -> None:
    lines = FLOW_DOC.splitlines()
    start = lines.index("| slot | filled by | read by |")
    listed: set[str] = set()
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        listed.update(re.findall(r"`(\w+)`", line.strip("|").split("|")[0]))
    relied_on = {CONSENT_SLOT, CONCERN_SLOT, *FEEDBACK_SLOTS, *ROLEPLAY_SLOTS, "role",
                 "safe_to_talk", "rp_role", "rp_pick", "rp_reply", "behavior", "behavior_mine",
                 "my_opener", "opener", "came_from", "answers_text"}
    relied_on.update(slot for entry in build_registry().actions.values() for slot in entry.writes)
    assert sorted(relied_on - listed) == []


def test_the_plural_syntax_and_the_missing_answer_text_are_described() -> None:
    assert "word|words" in FLOW_DOC and "(skipped)" in FLOW_DOC
    assert "not answered yet" not in FLOW_DOC


def test_the_coverage_table_lists_every_transcript_file() -> None:
    section = TRANSCRIPT_DOC.split("## What the shipped transcripts cover", 1)[1]
    listed = re.findall(r"^\| `([\w.-]+\.yaml)` \|", section, flags=re.MULTILINE)
    shipped = sorted(p.name for p in (REPO / "tests" / "transcripts").glob("*.yaml"))
    assert sorted(listed) == shipped
    assert len(listed) == len(set(listed))


def test_the_transcript_example_in_the_docs_passes(tmp_path: Path) -> None:
    """docs/transcripts.md teaches by an example: it must run as written."""
    from bot.cli import main

    text = (REPO / "docs" / "transcripts.md").read_text(encoding="utf-8")
    start = text.index("```yaml\nname: ") + len("```yaml\n")
    example = tmp_path / "example.yaml"
    example.write_text(text[start:text.index("```", start)], encoding="utf-8")
    assert main(["flows", "test", str(example)]) == 0


def test_the_operator_guide_explains_every_metric_and_is_linked() -> None:
    """docs/operations.md has a row for each metric the coach exports (bot/metrics.py), with
    its labels; the README links the guide and lists the settings it relies on."""
    from bot.metrics import Counts, Metrics, Timings

    guide = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = {re.findall(r"`(\w+)`", line)[0]: line for line in guide.splitlines()
            if line.startswith("| `coach_")}
    exported = [metric for metric in vars(Metrics(process=False)).values()
                if isinstance(metric, (Counts, Timings))]
    assert len(exported) == len(rows) == 7
    for metric in exported:
        assert metric.name in rows, metric.name
        for label in metric.labels:
            assert f"`{label}`" in rows[metric.name], (metric.name, label)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/operations.md)" in readme
    for setting in ("COACH_SECRET_KEY_FILE", "COACH_STATUS_PORT", "--status-port"):
        assert setting in readme and setting in guide, setting
