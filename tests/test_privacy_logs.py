"""A full walk on the console at DEBUG level: no user text and no secret in the output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

ANSWER = "Private-answer-5d1c about Jo"


def test_debug_output_has_no_user_text_or_key(tmp_path: Path) -> None:
    key = "cHJpdmF0ZS1rZXktMzItYnl0ZXMtbG9uZy0xMjM0NTY="  # 32 bytes, url-safe base64
    env = {**os.environ, "COACH_SECRET_KEY": key, "COACH_STORE": str(tmp_path / "p.db")}
    env.pop("COACH_FLOWS_DIR", None)
    lines = ["/start", "1", "/start boundaries", "Let's start", ANSWER, ANSWER + " online",
             "Skip this one", ANSWER + " hurts", "/export", "he hit me and I'm scared",
             "I'm safe right now", "/delete", "1", ""]
    done = subprocess.run([sys.executable, "-m", "bot", "--log-level", "DEBUG", "chat"],
                          input="\n".join(lines), capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ANSWER in done.stdout  # the person sees their own export
    assert "event=answer" in done.stderr and "event=safety_risk_violence" in done.stderr
    for secret in (ANSWER, "about Jo", "hit me", key):
        assert secret not in done.stderr, secret
