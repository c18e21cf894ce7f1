"""Who is using a store file: a shared lock beside it, alone only when nobody else holds it,
and the file gone when the last one lets go."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.store.in_use import StoreInUse


def test_alone_only_when_no_one_else_has_it_open(tmp_path: Path) -> None:
    first, second = StoreInUse(tmp_path / "c.db"), StoreInUse(tmp_path / "c.db")
    assert not first.alone()
    second.release()
    assert first.alone()
    first.release()
    assert not (tmp_path / "c.db.lock").exists()


def test_another_process_holding_it_is_seen(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from bot.store.in_use import StoreInUse; s = StoreInUse(Path(sys.argv[1])); "
         "print('held', flush=True); sys.stdin.read()", str(tmp_path / "c.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        mine = StoreInUse(tmp_path / "c.db")
        assert not mine.alone()
    finally:
        holder.communicate("", timeout=30)
    assert mine.alone()
    mine.release()
