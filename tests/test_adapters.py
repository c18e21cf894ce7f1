"""What every adapter keeps to, checked on the source: adapters go through the core, never
past it to its store, and the Telegram package's modules each have their test module."""

from __future__ import annotations

import ast

from tests.conftest import REPO

ADAPTERS = REPO / "adapters"


def _store_reaches(source: str) -> list[int]:
    """The lines where a module reads `<something>.store`: the core's store is the core's."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr == "store"]


def test_adapters_never_reach_past_the_core_to_its_store() -> None:
    """What an adapter needs of the store it asks the core (`Coach.greet_returning`,
    `Coach.data_folder`, `Coach.close`)."""
    reaches = [f"{path.relative_to(REPO)}:{line}" for path in sorted(ADAPTERS.rglob("*.py"))
               for line in _store_reaches(path.read_text(encoding="utf-8"))]
    assert reaches == []


def test_the_check_would_catch_a_reach() -> None:
    assert _store_reaches("async def f(coach):\n    await coach.store.close()\n") == [2]
    assert _store_reaches("async def f(coach):\n    await coach.close()\n") == []


def test_each_telegram_module_has_its_test_module() -> None:
    modules = sorted(p.stem for p in (ADAPTERS / "telegram").glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if not (REPO / "tests" / f"test_telegram_{m}.py").exists()]
    assert modules and missing == []
