"""The wheel is the product: built from the files the Dockerfile copies, installed in a fresh
venv outside the checkout, it must carry the flows and the licence and run on its own.

Offline: the wheel is built with the setuptools of this environment (the `test` extras) and
installed with --no-index; the dependencies come from this environment's site-packages through
a .pth file, which adds their folder only (not the editable install's finder, so the checkout
stays out of reach: the test checks where `bot` and `flows` are imported from).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import CORE_FLOWS, REPO

pytestmark = pytest.mark.wheel

# What the Dockerfile copies into its build stage: the wheel must need nothing else.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "bot", "adapters", "flows")
PIP = ("--disable-pip-version-check", "--no-input")


def _run(*args: str | Path, cwd: Path, stdin: str = "",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("COACH_", "PYTHON", "PIP_", "VIRTUAL_ENV"))}
    return subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**environment, **(env or {})}, timeout=180, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources, so the checkout gets no build/ or egg-info."""
    setuptools = int(version("setuptools").split(".")[0])
    assert setuptools >= 77, f"setuptools {setuptools} is too old to build offline: install the " \
                             "test extras (pip install -e '.[test]')"
    root = tmp_path_factory.mktemp("build")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    done = _run(sys.executable, "-m", "pip", "wheel", *PIP, "--no-deps", "--no-build-isolation",
                "--no-index", "--wheel-dir", root / "dist", source, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = (root / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed; the dependencies are this environment's."""
    home = tmp_path_factory.mktemp("venv") / "v"
    done = _run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home.parent)
    assert done.returncode == 0, done.stderr
    python = home / "bin" / "python"
    done = _run(sys.executable, "-m", "pip", *PIP, "--python", python, "install", "--no-deps",
                "--no-index", wheel, cwd=home.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                cwd=home.parent).stdout.strip()
    Path(site, "_coach_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return home


def test_the_wheel_carries_the_flows_and_the_licence(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(f"flows/{p.relative_to(REPO / 'flows').as_posix()}"
                     for p in (REPO / "flows").rglob("*.yaml"))
    assert "flows/core/messages.yaml" in shipped
    assert sorted(n for n in names if n.startswith("flows/") and n.endswith(".yaml")) == shipped
    assert {"flows/safety/screen_examples.weights.npz",
            "flows/coach/feedback_examples.weights.npz"} <= set(names)  # no fit at each start
    assert {"flows/locales/es.po", "flows/locales/messages.pot"} <= set(names)  # translations
    assert "conversation_coach-0.1.0.dist-info/licenses/LICENSE" in names
    assert [n for n in names if n.split("/")[0] in ("tests", "tools", "docs")] == []
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
    metadata = zipfile.ZipFile(wheel).read("conversation_coach-0.1.0.dist-info/METADATA")
    assert b"License-Expression: MIT" in metadata
    assert re.search(rb"^Requires-Dist: aiohttp", metadata, flags=re.MULTILINE)


def test_the_installed_coach_runs_from_anywhere(venv: Path, tmp_path: Path) -> None:
    coach = venv / "bin" / "coach"
    where = _run(venv / "bin" / "python", "-c",
                 "import importlib.util as u; import adapters, bot, flows; "
                 "print(bot.__file__, adapters.__file__, flows.__file__, u.find_spec('tests'))",
                 cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    *modules, tests = where.stdout.split()
    assert all(Path(m).is_relative_to(venv) for m in modules), modules
    assert tests == "None", "the checkout's tests must not be importable"

    version = _run(coach, "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, "coach 0.1.0\n"), version.stderr

    check = _run(coach, "flows", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("ok: "), check.stdout

    installed = _run(coach, "--store", "memory", "chat", cwd=tmp_path, stdin="1\n")
    assert installed.returncode == 0, installed.stderr
    assert "Traceback" not in installed.stderr and "18 or older" in installed.stdout
    checkout = _run(sys.executable, "-m", "bot", "--store", "memory", "chat", cwd=REPO,
                    stdin="1\n")
    assert installed.stdout == checkout.stdout, "the wheel's flows are the checkout's"
    assert list(tmp_path.iterdir()) == [], "nothing written where it was run"


def test_an_operator_can_still_point_at_other_flows(venv: Path, tmp_path: Path) -> None:
    done = _run(venv / "bin" / "coach", "--store", "memory", "chat", cwd=tmp_path, stdin="1\n",
                env={"COACH_FLOWS_DIR": str(CORE_FLOWS)})
    assert done.returncode == 0, done.stderr
    assert "What is your name?" in done.stdout  # the test menu's first question


def test_the_editable_install_reads_the_checkouts_flows(tmp_path: Path) -> None:
    """`make chat` and the tests run the editable install: the flows are the checkout's own
    folder (not a copy), so an edit there is what the next `coach` run reads."""
    done = _run(sys.executable, "-c", "from bot.paths import flows_dir; print(flows_dir())",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == REPO / "flows"
