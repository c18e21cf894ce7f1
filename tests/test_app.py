"""The assembled app: what an operator sets in the environment reaches the running coach.

These run the real command line in a subprocess (as an operator would start it), because the
bug they guard against was a Coach built without the operator's settings.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.app import Settings, build_coach

from .conftest import REPO


def _chat(lines: list[str], *chat_args: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--store", "memory", "chat", *chat_args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_settings_read_the_operator_environment(monkeypatch) -> None:
    monkeypatch.setenv("COACH_COUNTRY", "gb")
    monkeypatch.setenv("COACH_REFERRAL_NAME", "Example Counselling")
    monkeypatch.delenv("COACH_RETENTION_DAYS", raising=False)
    coach = build_coach(Settings(store_url="memory"))
    assert coach.config == {"country": "gb", "referral_name": "Example Counselling"}


def test_country_help_lines_reach_sos() -> None:
    uk = _chat(["/sos"], COACH_COUNTRY="gb")
    assert "116 123" in uk  # Samaritans, from flows/safety/resources.yaml
    default = _chat(["/sos"])
    assert "116 123" not in default
    assert "don't have a local number" in default


def test_retention_setting_reaches_privacy_text() -> None:
    assert "7 days" in _chat(["/privacy"], COACH_RETENTION_DAYS="7")
    assert "90 days" in _chat(["/privacy"])


def test_privacy_says_notes_are_kept_until_deleted_when_retention_is_off() -> None:
    text = _chat(["/privacy"], COACH_RETENTION_DAYS="0")
    assert "0 days" not in text
    assert "until you delete it" in text


def test_the_flow_language_knows_no_feature() -> None:
    """Features come in through the composition root; the language imports none of them."""
    import ast

    features = ("bot.coach", "bot.safety", "bot.engine", "bot.pipeline", "bot.app")
    offenders = []
    for path in sorted((REPO / "bot" / "flowlang").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(features)]
    assert offenders == []


def test_a_registry_starts_clean_and_is_filled_only_when_asked() -> None:
    from bot.app import build_registry
    from bot.flowlang import builtins
    from bot.flowlang.registry import Registry

    assert Registry().conditions == {} and Registry().actions == {}
    first, second = build_registry(), build_registry()
    assert first is not second and first.actions == second.actions
    assert {"coach_feedback", "show_resources", "set_slot"} <= set(first.actions)
    first.actions.pop("set_slot")
    assert "set_slot" in build_registry().actions  # no shared, global registry
    only_language = Registry().include(builtins.entries)
    assert "coach_feedback" not in only_language.actions
    with pytest.raises(ValueError, match="slot_filled"):
        only_language.include(builtins.entries)


def test_a_catalog_carries_the_registry_it_was_compiled_with() -> None:
    from bot.app import build_registry, load_catalog
    from tests.conftest import CORE_FLOWS

    registry = build_registry()
    catalog = load_catalog([CORE_FLOWS], registry)
    assert catalog.registry is registry



@pytest.mark.parametrize(("country", "line"), [
    ("es", "016"), ("mx", "800 911 2000"), ("ar", "144"), ("co", "155"), ("cl", "*4141")])
def test_a_spanish_speaking_country_gets_its_own_help_lines_in_spanish(country: str,
                                                                       line: str) -> None:
    text = _chat(["/sos"], "--lang", "es", COACH_COUNTRY=country)
    assert line in text
    assert "gratis y a cualquier hora" in text  # the lines' Spanish, from flows/locales/es.po
    assert "don't have a local number" not in text
