"""The shape the project promises: a platform-free core, safe YAML, quiet logs."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from bot.pipeline import Coach
from tests.conftest import REPO, Chat

PLATFORM_MODULES = ("adapters", "telegram", "discord")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


# The command line is the composition point that starts an adapter (`coach telegram` runs
# the Telegram one), so it is the one part of bot/ allowed to name adapters; it imports them
# lazily, inside each command's run, so that the rest of the command line never loads them.
LAUNCHER = REPO / "bot" / "cli"


def test_the_core_never_imports_an_adapter_or_a_platform() -> None:
    offenders = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        if path.is_relative_to(LAUNCHER):
            continue
        for name in _imports(path):
            if name.split(".")[0] in PLATFORM_MODULES:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_the_launcher_imports_adapters_only_inside_its_commands() -> None:
    """At module level bot/cli/ imports only the core, so `coach flows check` or `coach
    --help` never loads an adapter or a platform library."""
    offenders = []
    for path in sorted(LAUNCHER.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(REPO)} imports {name}" for name in names
                          if name.split(".")[0] in PLATFORM_MODULES]
    assert offenders == []


def _product_modules() -> list[Path]:
    """What the wheel installs as code: bot/, adapters/ and flows/ (its __init__ only)."""
    return sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("adapters/**/*.py"),
                   *REPO.glob("flows/**/*.py")])


# A path into the test folder, however it is written: "tests/...", "tests\\...", or the
# "tests" component of a Path joined with `/` (a string constant that is exactly "tests").
_TESTS_PATH = re.compile(r"(?<![\w.-])tests[/\\]")


def _reaches_into_tests(path: Path) -> list[str]:
    """Every import of `tests` and every path into it that a module holds, with its line."""
    text = path.read_text(encoding="utf-8")
    found = [f"imports {name}" for name in _imports(path) if name.split(".")[0] == "tests"]
    found += [f"{text.count(chr(10), 0, m.start()) + 1}: names {m.group()}"
              for m in _TESTS_PATH.finditer(text)]
    found += [f"{node.lineno}: the path component 'tests'"
              for node in ast.walk(ast.parse(text, filename=str(path)))
              if isinstance(node, ast.Constant) and node.value == "tests"]
    return found


def test_product_code_never_reaches_into_tests() -> None:
    """An installed coach has no tests/ folder: nothing it runs imports `tests` or names a
    path under it (labelled data, transcripts and fakes are given to it, or stay in tools/)."""
    offenders = [f"{path.relative_to(REPO)}: {what}" for path in _product_modules()
                 for what in _reaches_into_tests(path)]
    assert offenders == []


@pytest.mark.parametrize("written", ['DATA = Path(__file__).parent / "tests" / "data"',
                                     'DATA = "../tests/data/x.yaml"',
                                     "from tests.fakes import x", "import tests.conftest"])
def test_the_check_would_catch_a_way_into_tests(written: str, tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(written + "\n", encoding="utf-8")
    assert _reaches_into_tests(module)


def test_yaml_is_only_loaded_safely() -> None:
    for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("adapters/**/*.py")]):
        text = path.read_text()
        for unsafe in ("yaml.load(", "yaml.unsafe_load", "yaml.Loader", "FullLoader",
                       "UnsafeLoader", "import pickle", "pickle.load", " eval(", " exec("):
            assert unsafe not in text, f"{path}: {unsafe}"


async def test_debug_logs_carry_no_user_text(coach: Coach, caplog: pytest.LogCaptureFixture
                                             ) -> None:
    caplog.set_level(logging.DEBUG)
    chat = Chat(coach)
    secret = "secret-4f2a"
    await chat.send("/start quiz")
    await chat.send(secret)
    await chat.press("Red")
    await chat.send(secret + " why")
    await chat.send("/export")
    await chat.send("/nonsense " + secret)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "event=answer" in logged
    assert secret not in logged
