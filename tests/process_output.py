"""A subprocess's combined output, read as it comes, so a test can wait for the line that says
something happened (`event=status_started ... port=N`) instead of waiting for a while; and
small waits for the status endpoints of a running `coach`.

Timeouts here are safety nets against a hang (WAIT), never a measure of speed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

WAIT = 60.0


def ctrl_c_as_in_a_terminal() -> None:
    """For a child's `preexec_fn`: Ctrl-C as a terminal delivers it. A suite started in the
    background (`make test &`) runs with SIGINT ignored, which every child would inherit and
    a Python child would keep ignoring."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Output:
    """Everything `proc` prints on stdout (start it with stderr=STDOUT), collected by a
    thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._lines: list[str] = []
        self._changed = threading.Condition()  # its lock is re-entrant: `text` inside is fine
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._changed:
                self._lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # the end
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The first line matching `pattern`; AssertionError (with the output) if the process
        ends or `timeout` passes first."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if line == "":
                        raise AssertionError(f"ended before {pattern!r}:\n{self.text}")
                    found = compiled.search(line)
                    if found:
                        return found
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.text}")
                self._changed.wait(left)

    def finish(self, timeout: float = WAIT) -> str:
        """Wait for the process to end; everything it printed."""
        self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.text


def get(url: str) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers) of a GET; an HTTP error status is an answer, not an error."""
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def health(base: str) -> tuple[int, dict[str, str]]:
    status, body, _ = get(base + "/healthz")
    return status, json.loads(body)


def sample(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus text, 0 when it is not there (yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def labels_and_names(text: str) -> str:
    """Every sample's name and label values in Prometheus text, where an id would show if one
    leaked; not the values, which are numbers that may hold any digits by chance (a latency
    of 0.0142427 s holds "4242")."""
    return " ".join(f"{found.name} {' '.join(found.labels.values())}"
                    for family in text_string_to_metric_families(text)
                    for found in family.samples)


def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for `condition` (something another process does), polling."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.02)
