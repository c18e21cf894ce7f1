"""What the coach counts for its operators: Prometheus metrics on a registry of its own.

Why its own registry, not prometheus_client's global one: each Coach (and each test) gets
fresh counters, and /metrics shows exactly these (and the process's CPU and memory), never a
library's. Why platform-free: the core records most of it (updates, latency, commits, the
screen's flags, conflicts), the adapters only the replies they delivered; serving it over
HTTP is the adapters' business (adapters/status.py).

No label ever holds what someone typed, a user id or a user key: the labels are the platform's
name, a fixed outcome, a store kind, a screen category and a store's reason word. The
labelled children are looked up once and kept, so a message costs a few microseconds here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

# What became of an update handed to the core.
REPLIED = "replied"  # committed; its reply is ready
DUPLICATE = "duplicate"  # an update id the session had seen: answered once already
NOT_SAVED = "not_saved"  # the store could not commit: the person is asked to send it again
GROUP = "group"  # a group or server channel: the short notice only
FAILED = "failed"  # the core raised (a bug, or the store closing at a stop)
OUTCOMES = (REPLIED, DUPLICATE, NOT_SAVED, GROUP, FAILED)

# Seconds. A memory store answers in a fraction of a millisecond, SQLite in a few ms (fsync),
# PostgreSQL in a few ms more; the top buckets catch lock waits and a server being retried.
HANDLING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0)
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                  0.5, 1.0, 5.0, 20.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text format


class Metrics:
    """The coach's metrics; `registry` is what /metrics renders (see `exposition`)."""

    def __init__(self, *, process: bool = True) -> None:
        """`process`: add the process's CPU, memory and open files (Linux /proc)."""
        self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)
        self.updates = Counter(
            "coach_updates_total", "Updates handed to the core, by what became of them.",
            ["platform", "outcome"], registry=self.registry)
        self.replies = Counter(
            "coach_replies_sent_total", "Replies an adapter delivered to its platform in full.",
            ["platform"], registry=self.registry)
        self.handling = Histogram(
            "coach_handling_seconds", "From an update taken by the core to its reply ready "
            "(committed), lock waits included.", ["platform"], buckets=HANDLING_BUCKETS,
            registry=self.registry)
        self.commits = Histogram(
            "coach_store_commit_seconds", "How long a session save took until durable.",
            ["store"], buckets=COMMIT_BUCKETS, registry=self.registry)
        self.flags = Counter(
            "coach_screen_flags_total", "Messages the safety screen flagged, by category and "
            "risk (risk: a clear sign; unsure: the coach checks in).", ["category", "risk"],
            registry=self.registry)
        self.conflicts = Counter(
            "coach_store_version_conflicts_total", "Saves refused because another process "
            "saved the session first (the step is taken again).", registry=self.registry)
        self.unavailable = Counter(
            "coach_store_unavailable_total", "Messages not saved because the store could "
            "not commit, by reason (busy, full, io, timeout, connection, restart).",
            ["reason"], registry=self.registry)
        self._children: dict[tuple[object, ...], Any] = {}
        # The two calls every message makes, bound once per label value: a dict lookup
        # and the metric's own update, no tuple built on the way.
        self._handled: dict[str, dict[str, tuple[Callable[[], None],
                                                 Callable[[float], None]]]] = {}
        self._committed: dict[str, Callable[[float], None]] = {}

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- recording ----------------------------------------------------------------------

    def handled(self, platform: str, outcome: str, seconds: float | None) -> None:
        """An update handed to the core; `seconds` until its reply was ready (None: none)."""
        by_outcome = self._handled.get(platform)
        if by_outcome is None:
            by_outcome = self._handled[platform] = {}
        calls = by_outcome.get(outcome)
        if calls is None:
            calls = by_outcome[outcome] = (self._child(self.updates, platform, outcome).inc,
                                           self._child(self.handling, platform).observe)
        calls[0]()
        if seconds is not None:
            calls[1](seconds)

    def committed(self, store: str, seconds: float) -> None:
        observe = self._committed.get(store)
        if observe is None:
            observe = self._committed[store] = self._child(self.commits, store).observe
        observe(seconds)

    def reply_sent(self, platform: str) -> None:
        self._child(self.replies, platform).inc()

    def flagged(self, category: str, risk: str) -> None:
        self._child(self.flags, category, risk).inc()

    def conflict(self) -> None:
        self.conflicts.inc()

    def not_saved(self, reason: str) -> None:
        self._child(self.unavailable, reason).inc()

    # -- reading ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Everything, in Prometheus' text format (CONTENT_TYPE)."""
        return generate_latest(self.registry)
