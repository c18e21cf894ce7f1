"""The Telegram bench (tools/telegram_bench.py), small, so it cannot rot. It is a checkout's
tool: its fake Bot API server is test code, which the installed packages never reach."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

TOOL = REPO / "tools" / "telegram_bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("telegram_bench", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_runs_end_to_end(bench: ModuleType,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Bot latency and delivery latency apart, and a ramp that stops at the first rate not
    kept."""
    assert bench.run(users=40, updates=80, as_json=True, rate=200.0, stores=("memory",),
                     ramp=True, ramp_step=5000.0, ramp_seconds=0.5) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert (result["store"], result["updates"], result["unfinished"], result["http_429"]) == (
        "memory", 80, 0, 0)
    assert result["api_calls"]["answerCallbackQuery"] > 0
    assert 0 < result["bot_p50_ms"] <= result["bot_p99_ms"] <= result["bot_max_ms"]
    assert result["bot_p50_ms"] <= result["delivery_p50_ms"]
    assert result["pickup_p50_ms"] <= result["bot_p50_ms"]
    assert result["pinned_cpus"] == 1 and "os.sched_setaffinity" in result["pinned"]
    steps = result["ramp"]
    assert steps[0]["offered_per_s"] == 200.0 and not steps[-1]["sustained"]
    assert all(step["sustained"] for step in steps[:-1])
    assert result["sustained_per_s"] == (steps[-2]["offered_per_s"] if len(steps) > 1 else None)


def test_the_benchmark_measures_only_the_store_asked_for(
        bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--store", "sqlite", "--users", "30", "--updates", "60", "--rate", "150",
                       "--no-ramp", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()  # one store, one line
    result = json.loads(line)
    assert (result["store"], result["offered_per_s"], result["updates"]) == ("sqlite", 150, 60)
    assert result["ramp"] == [] and result["sustained_per_s"] is None


def test_the_tool_runs_as_a_script_from_anywhere(tmp_path: Path) -> None:
    """`python tools/telegram_bench.py` finds the fake in its checkout, whatever the folder."""
    done = subprocess.run([sys.executable, str(TOOL), "--store", "memory", "--users", "5",
                           "--updates", "10", "--rate", "100", "--no-ramp", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["updates"] == 10
    assert list(tmp_path.iterdir()) == [], "its working folder is removed"
