"""Flow problems reported as `path:line:col: message`, all at once, never as a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class FlowProblem:
    path: str
    line: int
    col: int
    message: str
    node: str = ""  # the state's id on the flow map (`talk.opener`), when it is about one

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}" if self.col else f"{self.path}:{self.line}"
        on_map = f" [map: {self.node}]" if self.node else ""
        return f"{where}: {self.message}{on_map}"


class FlowErrors(Exception):
    """Raised with every problem found, so an editor fixes them in one pass."""

    def __init__(self, problems: Iterable[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
