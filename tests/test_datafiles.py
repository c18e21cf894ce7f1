"""Feature files checked with the flows: loaded data files and compile-checked rule files."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import features
from bot.flowlang.datafiles import DataFile, RuleFile, load_data_files, rule_file_problems
from bot.flowlang.errors import FlowProblem
from tests.conftest import REPO


def test_rule_files_that_compiled_before_are_not_compiled_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`coach flows check` remembers rule files that compiled (by the hash of their bytes and
    of the code that compiles them), so an unchanged file costs nothing the next time; a
    changed or broken one is compiled, and reported, every time."""
    monkeypatch.setenv("COACH_CHECK_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows)
    calls: list[str] = []

    def counting(rule: RuleFile) -> RuleFile:
        def build(data: object) -> object:
            calls.append(str(rule.path))
            return rule.build(data)
        return replace(rule, build=build)

    rules = tuple(counting(rule) for rule in features().rule_files)
    assert rule_file_problems([flows], rules) == []
    assert len(calls) == 2
    assert rule_file_problems([flows], rules) == []
    assert len(calls) == 2, "unchanged rule files were compiled again"
    screen_rules = flows / "safety" / "screen_rules.yaml"
    screen_rules.write_text(screen_rules.read_text(encoding="utf-8") + "\n# edited\n",
                            encoding="utf-8")
    assert rule_file_problems([flows], rules) == []
    assert len(calls) == 3
    screen_rules.write_text("rules: [\n", encoding="utf-8")
    for _ in range(2):  # a broken file is reported every time, never remembered
        problems = rule_file_problems([flows], rules)
        assert problems and problems[0].path == str(screen_rules)
        assert len(calls) == 3  # a YAML error stops before compiling


def test_a_changed_compiler_makes_earlier_checks_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_CHECK_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "rules.yaml").write_text("a: 1\n", encoding="utf-8")
    code = tmp_path / "compiler.py"
    code.write_text("v1", encoding="utf-8")
    built: list[object] = []
    rule = RuleFile(Path("rules.yaml"), built.append, (code,))
    rule_file_problems([tmp_path], [rule])
    rule_file_problems([tmp_path], [rule])
    code.write_text("v2", encoding="utf-8")
    rule_file_problems([tmp_path], [rule])
    assert built == [{"a": 1}, {"a": 1}]


def test_rules_that_do_not_compile_are_one_problem_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("a: 1\n", encoding="utf-8")

    def build(data: object) -> object:
        raise ValueError("no rules")

    [problem] = rule_file_problems([tmp_path], [RuleFile(Path("rules.yaml"), build)])
    assert problem.message == "rules do not compile: ValueError: no rules"


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
