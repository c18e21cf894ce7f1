"""The coach's metrics (bot/metrics.py) as the real core records them: what became of each
update, latencies, commits, the screen's flags, conflicts and a store that could not commit;
never anyone's words, ids or user keys."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.flowlang.catalog import Catalog
from bot.messages import Incoming, Reply, UserKey
from bot.metrics import Metrics
from bot.pipeline import Coach
from bot.session import Session
from bot.store.base import StoreUnavailable, VersionConflict
from bot.store.memory import MemoryStore
from tests.conftest import Chat
from tests.test_safety_pipeline import UNSURE, VIOLENCE


def value(coach: Coach, name: str, **labels: str) -> float:
    found = coach.metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


class BusyStore(MemoryStore):
    """Saves fail as with a lock held past the busy timeout, while `busy` says so."""

    busy = raced = False

    async def save(self, session: Session) -> None:
        if self.busy:
            raise StoreUnavailable("busy")
        await super().save(session)


class RacedStore(MemoryStore):
    """The next save finds that another process saved first (once)."""

    busy = raced = False

    async def save(self, session: Session) -> None:
        if self.raced:
            self.raced = False
            stored = await self.load(session.user_key)
            assert stored is not None
            await super().save(stored)  # the other process's step
            raise VersionConflict(session.user_key)
        await super().save(session)


async def test_updates_are_counted_by_platform_and_outcome(catalog: Catalog) -> None:
    coach = Coach(catalog, MemoryStore())
    chat = Chat(coach, platform="telegram")
    await chat.send("/start quiz", update_id="1")
    await chat.send("Sam", update_id="2")
    await chat.send("Sam", update_id="2")  # delivered twice: answered once
    group = UserKey("telegram", "bob")
    await coach.handle(Incoming(group, text="/start", private=False, update_id="3"))

    assert value(coach, "coach_updates_total", platform="telegram", outcome="replied") == 2
    assert value(coach, "coach_updates_total", platform="telegram", outcome="duplicate") == 1
    assert value(coach, "coach_updates_total", platform="telegram", outcome="group") == 1
    assert value(coach, "coach_handling_seconds_count", platform="telegram") == 4
    assert value(coach, "coach_handling_seconds_sum", platform="telegram") > 0
    assert value(coach, "coach_store_commit_seconds_count", store="memory") == 2


async def _second_message_on(store: BusyStore | RacedStore,
                             catalog: Catalog) -> tuple[Coach, Reply]:
    """/start quiz, then "Sam" once the store does what it is made to do."""
    coach = Coach(catalog, store)
    chat = Chat(coach)
    await chat.send("/start quiz")
    store.busy = store.raced = True
    return coach, await chat.send("Sam")


async def test_a_store_that_cannot_commit_and_a_conflict_are_counted(catalog: Catalog) -> None:
    coach, reply = await _second_message_on(BusyStore(), catalog)
    assert not reply.saved
    assert value(coach, "coach_updates_total", platform="test", outcome="not_saved") == 1
    assert value(coach, "coach_store_unavailable_total", reason="busy") == 1

    coach, reply = await _second_message_on(RacedStore(), catalog)
    assert reply.parts == ["Hello Sam. Favourite colour?"]  # taken again on the newer step
    assert value(coach, "coach_store_version_conflicts_total") == 1
    assert value(coach, "coach_updates_total", platform="test", outcome="replied") == 2


async def test_the_screens_flags_are_counted_by_category(safety_catalog: Catalog) -> None:
    coach = Coach(safety_catalog, MemoryStore())
    for name, text in (("ann", VIOLENCE), ("ben", UNSURE), ("cy", "I like red")):
        chat = Chat(coach, name)
        await chat.send("/start quiz")
        await chat.send("Sam")
        await chat.press("Red")
        await chat.send(text)
    assert value(coach, "coach_screen_flags_total", category="violence", risk="risk") == 1
    flagged = [sample for family in coach.metrics.registry.collect()
               if family.name == "coach_screen_flags" for sample in family.samples
               if sample.name.endswith("_total")]
    assert sum(sample.value for sample in flagged) == 2  # the plain answer is not flagged
    assert any(sample.labels["risk"] == "unsure" for sample in flagged)


async def test_no_label_or_value_carries_words_ids_or_keys(safety_catalog: Catalog) -> None:
    coach = Coach(safety_catalog, MemoryStore())
    chat = Chat(coach, "user-8d1f3", platform="telegram")
    secret = "canary-4f2a-private"
    await chat.send("/start quiz", update_id="update-4f2a9c")
    await chat.send(secret)
    await chat.send(VIOLENCE)
    text = coach.metrics.exposition().decode()
    for private in (secret, "user-8d1f3", "telegram:user-8d1f3", "4f2a9c", "hit me"):
        assert private not in text
    families = {family.name for family in text_string_to_metric_families(text)}
    assert {"coach_updates", "coach_handling_seconds", "coach_store_commit_seconds",
            "coach_screen_flags", "coach_replies_sent", "coach_store_version_conflicts",
            "coach_store_unavailable"} <= families


async def test_each_coach_counts_on_a_registry_of_its_own(catalog: Catalog) -> None:
    first, second = Coach(catalog, MemoryStore()), Coach(catalog, MemoryStore())
    await Chat(first).send("/start quiz")
    assert value(first, "coach_updates_total", platform="test", outcome="replied") == 1
    assert value(second, "coach_updates_total", platform="test", outcome="replied") == 0
    shared = Metrics(process=False)
    third = Coach(catalog, MemoryStore(), metrics=shared)
    await Chat(third).send("/start quiz")
    shared.reply_sent("telegram")
    assert third.metrics is shared
    assert shared.registry.get_sample_value("coach_replies_sent_total",
                                            {"platform": "telegram"}) == 1
    assert "process_cpu_seconds_total" not in shared.exposition().decode()


def test_the_counts_and_timings_render_as_prometheus_clients_own_would() -> None:
    """bot/metrics.py keeps plain numbers instead of prometheus_client's locked metrics; what
    /metrics shows must be what a Counter and a Histogram fed the same would show (bucket
    bounds, `le` spelling, cumulative counts, +Inf, sum, count), bounds themselves included."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from bot.metrics import HANDLING_BUCKETS, Counts, Timings

    theirs, ours = CollectorRegistry(), CollectorRegistry()
    their_histogram = Histogram("t_seconds", "d", ["p"], buckets=HANDLING_BUCKETS,
                                registry=theirs)
    their_counter = Counter("c_total", "d", ["p"], registry=theirs)
    Counter("plain_total", "d", registry=theirs)
    our_histogram = Timings(ours, "t_seconds", "d", ["p"], HANDLING_BUCKETS)
    our_counter = Counts(ours, "c_total", "d", ["p"])
    Counts(ours, "plain_total", "d")
    for seconds in (0.0, 0.0004, 0.0005, 0.00051, 0.003, 0.1, 1.0, 29.9, 30.0, 31.0, 500.0,
                    *HANDLING_BUCKETS):
        for platform in ("a", "b") if seconds < 1 else ("a",):
            their_histogram.labels(platform).observe(seconds)
            our_histogram.observe(seconds, platform)
            their_counter.labels(platform).inc()
            our_counter.inc(platform)

    def lines(registry: CollectorRegistry) -> list[str]:
        return sorted(line for line in generate_latest(registry).decode().splitlines()
                      if "_created" not in line)

    assert lines(ours) == lines(theirs)
