"""Feature files loaded with the flows: help lines, coaching texts and the rule sets, each
offered by name; what `flows check` checks is what runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.app import load_catalog
from bot.flowlang.datafiles import DataFile, compiled, load_data_files
from bot.flowlang.errors import FlowProblem
from bot.messages import Incoming, UserKey
from bot.pipeline import Coach
from bot.safety.screen_rules import SERVICE as SCREEN_RULES
from bot.setting import NO_SETTING
from bot.store.memory import MemoryStore
from tests.conftest import REPO


def test_rules_that_do_not_compile_are_one_problem_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("a: 1\n", encoding="utf-8")

    def build(data: object) -> object:
        raise ValueError("no rules")

    value, [problem] = compiled(build)(tmp_path / "rules.yaml")
    assert value is None
    assert problem.message == "rules do not compile: ValueError: no rules"
    (tmp_path / "rules.yaml").write_text("rules: [\n", encoding="utf-8")
    _, [problem] = compiled(build)(tmp_path / "rules.yaml")
    assert problem.message.startswith("YAML syntax error") and problem.line >= 1


def test_data_files_load_by_name_and_report_their_problems(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("y", encoding="utf-8")

    def good(path: Path) -> tuple[object, list[FlowProblem]]:
        return path.read_text(encoding="utf-8"), []

    def bad(path: Path) -> tuple[object, list[FlowProblem]]:
        return None, [FlowProblem(str(path), 1, 0, "broken")]

    loaded, problems = load_data_files([tmp_path], [
        DataFile("good", Path("good.yaml"), good), DataFile("bad", Path("bad.yaml"), bad),
        DataFile("absent", Path("absent.yaml"), good)])
    assert loaded == {"good": "x"}
    assert [p.message for p in problems] == ["broken"]


async def test_the_flows_folders_own_screen_rules_are_the_ones_that_run(tmp_path: Path) -> None:
    """`--flows DIR` changes the rules too: an operator's edited screen rules screen."""
    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    shipped = load_catalog([REPO / "flows"])
    assert shipped.services[SCREEN_RULES] is not None
    message = "he hit me last night"
    coach = Coach(shipped, MemoryStore())
    user = UserKey("test", "a")
    await coach.handle(Incoming(user, text="/start"))
    assert coach.stages.screen(message, NO_SETTING).is_flagged
    rules = flows / "safety" / "screen_rules.yaml"
    text = rules.read_text(encoding="utf-8")
    # An operator who empties the rule list: those rules no longer decide anything.
    rules.write_text(text[:text.index("\nrules:")] + "\nrules: []"
                     + text[text.index("\nsignals:"):], encoding="utf-8")
    edited = Coach(load_catalog([flows]), MemoryStore())
    before = coach.stages.screen(message, NO_SETTING)
    after = edited.stages.screen(message, NO_SETTING)
    assert before.rule != after.rule
    assert not after.rule.startswith(before.rule)


def test_a_broken_rule_file_in_the_flows_stops_the_load(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    (flows / "coach" / "feedback_rules.yaml").write_text("kinds: [\n", encoding="utf-8")
    from bot.app import check_flows

    catalog, problems = check_flows([flows])
    assert catalog is None
    assert [p.path for p in problems] == [str(flows / "coach" / "feedback_rules.yaml")]
