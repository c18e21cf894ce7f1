"""`coach store copy`: every session of one store written into another (SQLite to PostgreSQL
and back), opened with the source's keys and sealed with the destination's (each person
gets a data key of the destination's own).

Resumable without a record of its own: each session is imported with its version and time
as they are, and only where the destination has no newer version of it (Store.import_session),
so a run that was stopped and is started again counts the sessions already copied as
"already there" and finishes the rest. Nothing here names a person: only counts go out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.store.base import COPIED, NEWER, THERE, Store

PAGE = 500


@dataclass
class CopyCounts:
    copied: int = 0
    there: int = 0
    newer: int = 0
    gone: int = 0  # erased from the source between listing and reading

    @property
    def seen(self) -> int:
        return self.copied + self.there + self.newer + self.gone

    def add(self, outcome: str) -> None:
        if outcome == COPIED:
            self.copied += 1
        elif outcome == THERE:
            self.there += 1
        elif outcome == NEWER:
            self.newer += 1
        else:
            self.gone += 1

    def line(self) -> str:
        text = (f"copied {self.copied:,}, already there {self.there:,}, "
                f"newer in the destination {self.newer:,}")
        return text + (f", gone from the source meanwhile {self.gone:,}" if self.gone else "")


async def copy_sessions(source: Store, destination: Store, *, every: int = 1000,
                        progress: Callable[[CopyCounts], None] | None = None,
                        stop_after: int | None = None) -> CopyCounts:
    """Copy every session in user-key order; `progress` is called after every `every`
    sessions. `stop_after` ends the run early (as a stopped run would), for tests."""
    counts = CopyCounts()
    after: str | None = None
    while page := await source.user_keys(after, PAGE):
        for user_key in page:
            if stop_after is not None and counts.seen >= stop_after:
                return counts
            session = await source.load(user_key)
            counts.add("gone" if session is None else
                       await destination.import_session(session))
            if progress is not None and counts.seen % every == 0:
                progress(counts)
        after = page[-1]
    return counts
