"""What the coach counts for its operators: Prometheus metrics on a registry of its own.

Why its own registry, not prometheus_client's global one: each Coach (and each test) gets
fresh counters, and /metrics shows exactly these (and the process's CPU and memory), never a
library's. Why platform-free: the core records most of it (updates, latency, commits, the
screen's flags, conflicts), the adapters only the replies they delivered; serving it over
HTTP is the adapters' business (adapters/status.py).

No label ever holds what someone typed, a user id or a user key: the labels are the platform's
name, a fixed outcome, a store kind, a screen category and a store's reason word.

Why not prometheus_client's Counter and Histogram: each of their updates takes a lock, and a
message made four of them (5 us of a 50 us `/resume`). Here the numbers are plain floats in
dicts, turned into metric families only when /metrics is read: about 2 us a message. No lock
is needed because the coach records and /metrics renders on the one event loop thread (the
SQLite commit's worker thread records nothing).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

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


class _Series:
    """What a counter and a histogram share: name, help text, label names, and being read
    by the registry only when /metrics is."""

    family: type[CounterMetricFamily] | type[HistogramMetricFamily]

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        registry.register(self)

    def _family(self) -> Metric:
        return self.family(self.name, self.documentation, labels=self.labels)

    def describe(self) -> list[Metric]:
        return [self._family()]


class Counts(_Series):
    """A counter by label values (`coach_..._total`)."""

    family = CounterMetricFamily

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: Sequence[str] = ()) -> None:
        # A counter without labels shows 0 from the start, so a rate() over it works.
        self.values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}
        super().__init__(registry, name, documentation, labels)

    def inc(self, *values: str) -> None:
        """One more for these label values (in the order of `labels`)."""
        self.values[values] = self.values.get(values, 0.0) + 1.0

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, count in self.values.items():
            family.add_metric(values, count)
        yield family


class Timings(_Series):
    """A histogram of seconds by label values, with fixed bucket bounds (and +Inf)."""

    family = HistogramMetricFamily

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str,
                 labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.bounds = tuple(buckets)
        self._le = [*(floatToGoString(bound) for bound in self.bounds), "+Inf"]
        # Per label values: the count in each bucket (not cumulative), +Inf's, then the sum.
        self.rows: dict[tuple[str, ...], list[float]] = {}
        super().__init__(registry, name, documentation, labels)

    def observe(self, seconds: float, *values: str) -> None:
        row = self.rows.get(values)
        if row is None:
            row = self.rows[values] = [0.0] * (len(self.bounds) + 2)
        row[bisect_left(self.bounds, seconds)] += 1.0  # the first bound >= seconds: le
        row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, row in self.rows.items():
            cumulative, buckets = 0.0, []
            for le, count in zip(self._le, row[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(values), buckets, sum_value=row[-1])
        yield family


class Metrics:
    """The coach's metrics; `registry` is what /metrics renders (see `exposition`)."""

    def __init__(self, *, process: bool = True) -> None:
        """`process`: add the process's CPU, memory and open files (Linux /proc)."""
        self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)
        registry = self.registry
        self.updates = Counts(
            registry, "coach_updates_total", "Updates handed to the core, by what became "
            "of them.", ["platform", "outcome"])
        self.replies = Counts(
            registry, "coach_replies_sent_total", "Replies an adapter delivered to its "
            "platform in full.", ["platform"])
        self.handling = Timings(
            registry, "coach_handling_seconds", "From an update taken by the core to its "
            "reply ready (committed), lock waits included.", ["platform"], HANDLING_BUCKETS)
        self.commits = Timings(
            registry, "coach_store_commit_seconds", "How long a session save took until "
            "durable.", ["store"], COMMIT_BUCKETS)
        self.flags = Counts(
            registry, "coach_screen_flags_total", "Messages the safety screen flagged, by "
            "category and risk (risk: a clear sign; unsure: the coach checks in).",
            ["category", "risk"])
        self.conflicts = Counts(
            registry, "coach_store_version_conflicts_total", "Saves refused because another "
            "process saved the session first (the step is taken again).")
        self.unavailable = Counts(
            registry, "coach_store_unavailable_total", "Messages not saved because the "
            "store could not commit, by reason (busy, full, io, timeout, connection, "
            "restart).", ["reason"])

    # -- recording ----------------------------------------------------------------------

    def handled(self, platform: str, outcome: str, seconds: float | None) -> None:
        """An update handed to the core; `seconds` until its reply was ready (None: none)."""
        self.updates.inc(platform, outcome)
        if seconds is not None:
            self.handling.observe(seconds, platform)

    def committed(self, store: str, seconds: float) -> None:
        self.commits.observe(seconds, store)

    def reply_sent(self, platform: str) -> None:
        self.replies.inc(platform)

    def flagged(self, category: str, risk: str) -> None:
        self.flags.inc(category, risk)

    def conflict(self) -> None:
        self.conflicts.inc()

    def not_saved(self, reason: str) -> None:
        self.unavailable.inc(reason)

    # -- reading ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """Everything, in Prometheus' text format (CONTENT_TYPE)."""
        return generate_latest(self.registry)
