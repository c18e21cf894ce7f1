"""The shape the project promises: a platform-free core, safe YAML, quiet logs."""

from __future__ import annotations

import ast
import logging
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


def test_the_core_never_imports_an_adapter_or_a_platform() -> None:
    offenders = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        if path.name == "__main__.py":  # the launcher, not part of the core
            continue
        for name in _imports(path):
            if name.split(".")[0] in PLATFORM_MODULES:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


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
