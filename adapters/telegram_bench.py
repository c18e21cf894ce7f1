"""`coach bench --telegram`: the whole Telegram path, measured against the fake Bot API server.

What is measured: simulated people push updates into the fake server (tests/fakes/
telegram_api.py, real HTTP on 127.0.0.1); the real adapter long-polls them with PTB, runs
the real core and store, and sends its replies back over HTTP. Latency runs from the moment
an update is queued at the fake until the fake has received the last message of its reply
(both on the same monotonic clock); throughput is updates completed per second.

How: an open loop at a fixed offered rate (default 300 updates/s) spread over 1,000 people,
each with at most one update in flight, as people wait for an answer before they answer
back. Their first update is /start; after that they press a button of the last reply or
type an answer. The fake runs in this process, on the bot's own event loop (fake="thread"
runs it in a thread with its own loop instead; the two then trade the GIL, which adds
milliseconds of hand-off to the tail), and the whole process is pinned to one CPU: bot,
core, store, driver and fake server share one core, so the figures are a floor for the bot.

Pacing: the adapter's per-chat pacing stays at its production values (1 message/s, bursts
of 5) and the fake enforces the same rate with one message more of burst, so any pacing
mistake shows up as 429s. (The one message of slack is for the clocks: the adapter counts
from when it sends, the server from when requests arrive, and on a loaded core the first
of a burst can arrive late, so the server's refill starts later than ours.) The adapter's
global 30 messages/s bucket is off: 300 updates/s means more than 300 messages/s, far beyond
what Telegram allows a bot (the fake does not model that limit). Below Telegram's own
limits the bot is never the bottleneck.

Garbage collection: the fake records every call and message it sees, so this process's heap
grows all through the run and each full collection walks all of it (pauses of 150 ms were
seen). That is the fake's state, not the bot's, so the driver calls `gc.freeze()` once a
second: what exists by then is left out of later collections; young objects, which is all
the bot makes per update, are still collected as usual.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.outbox import Pacing
from adapters.telegram import TelegramBot, TelegramConfig, keyboard, plan
from bot.app import load_flows
from bot.messages import Incoming, Reply
from bot.pipeline import Coach
from bot.store.base import Store
from bot.store.memory import MemoryStore
from bot.store.url import open_store

TOKEN = "123456789:AABenchTokenForTheFakeServerOnly_xyz"
ANSWERS = (
    "I noticed you were messaging someone late at night and it made me uneasy.",
    "Friendly chats are fine, flirting is not.",
    "Honestly I am not sure yet.",
    "I would like us to talk about it calmly this weekend.",
)
FIRST_CHAT = 10_000_000


class BenchUnavailable(RuntimeError):
    """The fake server is not here (an installed package or image has no tests/)."""


def _fake_server_class() -> Any:
    """The fake lives with the tests; it is found from a source checkout only."""
    try:
        from tests.fakes.telegram_api import FakeTelegramAPI
    except ImportError:
        path = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "telegram_api.py"
        if not path.exists():
            raise BenchUnavailable("coach bench --telegram needs a source checkout "
                                   "(tests/fakes/telegram_api.py)") from None
        spec = importlib.util.spec_from_file_location("coach_fake_telegram_api", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        FakeTelegramAPI = module.FakeTelegramAPI
    return FakeTelegramAPI


@dataclass(eq=False)
class Person:
    """One simulated user: what is on their screen and their update in flight."""

    chat: int
    started: bool = False
    message_id: int | None = None
    buttons: list[str] = field(default_factory=list)
    pushed: float = 0.0
    expected: int | None = None  # messages in the reply, once the core has answered
    received: int = 0
    last: float = 0.0


class CountingCoach(Coach):
    """The real core; also notes how many messages each reply becomes (for the bench only)."""

    collector: Collector

    async def handle(self, message: Incoming) -> Reply:
        reply = await super().handle(message)
        person = self.collector.people[int(message.user.user_id)]
        person.expected = 0 if reply.duplicate else len(
            plan(reply, keyboard(reply.choices), private=True))
        self.collector.touched.add(person)
        return reply


@dataclass
class TelegramBenchResult:
    store: str
    users: int
    updates: int
    offered_per_s: float
    seconds: float
    updates_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_s: float
    bot_cpu_s: float  # the event-loop thread: adapter, PTB, core, driver (and the fake if "loop")
    cpu_share: float
    api_calls: dict[str, int]
    http_429: int
    unfinished: int
    gc_max_pause_ms: float
    fake_server: str = "loop"
    pinned_cpus: int = 1


def _pin_one_cpu() -> tuple[int, set[int] | None]:
    """Pin this process to one CPU; returns (CPUs used, the affinity to restore)."""
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(before)})
        return 1, before
    except (AttributeError, OSError):  # not Linux: say so in the result
        return os.cpu_count() or 0, None


def _next_update(server: Any, person: Person, rng: random.Random) -> None:
    """Press a button of the last reply, or type an answer (always at a text prompt)."""
    if not person.started:
        person.started = True
        server.push_command(person.chat, "start")
    elif person.buttons and (len(person.buttons) > 1 or rng.random() < 0.2):
        server.push_callback(person.chat, rng.choice(person.buttons),
                             message_id=person.message_id)
    else:
        server.push_message(person.chat, rng.choice(ANSWERS))


class GCPauses:
    """The longest garbage-collection pause: a tail-latency suspect worth printing."""

    def __init__(self) -> None:
        self.started = 0.0
        self.longest = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self.started)


class Collector:
    """Reads the fake's recorded calls and completes people whose whole reply arrived."""

    def __init__(self, server: Any, people: dict[int, Person], idle: deque[Person]) -> None:
        self.server = server
        self.people = people
        self.idle = idle
        self.cursor = 0
        self.open: list[Any] = []  # calls not answered yet when last seen
        self.latencies: list[float] = []
        self.finished_at = 0.0
        self.touched: set[Person] = set()

    def scan(self) -> None:
        calls = self.server.calls
        self.open.extend(calls[self.cursor:len(calls)])
        self.cursor = len(calls)
        still_open = []
        for call in self.open:
            if call.status is None:
                still_open.append(call)
            elif call.status == 200 and call.method in ("sendMessage", "sendDocument"):
                self._arrived(call)
        self.open = still_open
        touched, self.touched = self.touched, set()
        for person in touched:
            if person.pushed and person.expected is not None and \
                    person.received >= person.expected:
                self._complete(person)

    def _arrived(self, call: Any) -> None:
        person = self.people.get(call.params.get("chat_id"))
        if person is None or not person.pushed:
            return
        person.received += 1
        person.last = max(person.last, call.time)
        self.touched.add(person)
        markup = call.params.get("reply_markup") or {}
        buttons = [b["callback_data"] for row in markup.get("inline_keyboard", [])
                   for b in row if "callback_data" in b]
        if buttons:
            person.message_id = call.response["result"]["message_id"]
            person.buttons = buttons

    def _complete(self, person: Person) -> None:
        self.latencies.append((person.last or person.pushed) - person.pushed)
        self.finished_at = max(self.finished_at, person.last)
        person.pushed, person.expected, person.received, person.last = 0.0, None, 0, 0.0
        self.idle.append(person)


async def _drive(server: Any, coach: CountingCoach, users: int, updates: int, rate: float,
                 seed: int, first_chat: int = FIRST_CHAT
                 ) -> tuple[list[float], float, float, int]:
    rng = random.Random(seed)
    people = {first_chat + n: Person(first_chat + n) for n in range(users)}
    idle: deque[Person] = deque(people.values())
    collector = coach.collector = Collector(server, people, idle)
    collector.cursor = len(server.calls)
    started = frozen = time.monotonic()
    for n in range(updates):
        due = started + n / rate
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        collector.scan()
        while not idle:  # everyone is waiting for a reply: the bot is behind
            await asyncio.sleep(0.002)
            collector.scan()
        if due - frozen > 1.0:
            gc.freeze()  # see the module docstring: keep the fake's records out of full GCs
            frozen = due
        person = idle.popleft()
        person.pushed = time.monotonic()
        _next_update(server, person, rng)
    deadline = time.monotonic() + 30
    while len(idle) < users and time.monotonic() < deadline:
        collector.scan()
        await asyncio.sleep(0.002)
    return collector.latencies, started, collector.finished_at, users - len(idle)


async def _one_run(kind: str, users: int, updates: int, rate: float, workdir: Path,
                   fake: str) -> dict:
    FakeTelegramAPI = _fake_server_class()
    server = FakeTelegramAPI(TOKEN, max_poll_wait=1.0)
    if fake == "thread":
        _, stop_thread = server.run_in_thread()

        async def stop_server() -> None:
            stop_thread()
    else:
        await server.start()
        stop_server = server.stop
    store: Store = MemoryStore() if kind == "memory" else open_store(str(workdir / f"{kind}.db"))
    coach = CountingCoach(load_flows(), store)
    pacing = Pacing(overall=None)  # per-chat pacing as in production; see the docstring
    server.enforce_chat_rate(pacing.per_chat, burst=pacing.chat_burst + 1)
    bot = TelegramBot(coach, TelegramConfig(token=TOKEN, base_url=server.base_url,
                                            poll_timeout=1, pacing=pacing))
    try:
        await bot.start()
        # warm-up, with other people: the measured ones start with Telegram's full burst
        await _drive(server, coach, min(users, 100), min(updates, 600), rate, seed=7,
                     first_chat=FIRST_CHAT * 2)
        mark = len(server.calls)
        cpu, bot_cpu = resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
        pauses = GCPauses()
        gc.callbacks.append(pauses)
        latencies, started, finished, unfinished = await _drive(
            server, coach, users, updates, rate, seed=1)
        cpu_after, bot_cpu = resource.getrusage(resource.RUSAGE_SELF), time.thread_time() - bot_cpu
        gc.callbacks.remove(pauses)
        calls = server.calls[mark:]
    finally:
        await bot.stop()
        await store.close()
        await stop_server()
    seconds = max(finished - started, 1e-9)
    cpu_s = (cpu_after.ru_utime - cpu.ru_utime) + (cpu_after.ru_stime - cpu.ru_stime)
    latencies.sort()
    return {
        "latencies": latencies, "seconds": seconds, "cpu_s": cpu_s, "unfinished": unfinished,
        "bot_cpu_s": bot_cpu, "gc_max_pause_ms": pauses.longest * 1000,
        "api_calls": dict(Counter(c.method for c in calls)),
        "http_429": sum(c.status == 429 for c in calls),
    }


def _result(kind: str, users: int, updates: int, rate: float, raw: dict, pinned: int,
            fake: str) -> TelegramBenchResult:
    latencies = raw["latencies"] or [0.0]
    seconds = raw["seconds"]
    return TelegramBenchResult(
        store=kind, users=users, updates=len(raw["latencies"]), offered_per_s=rate,
        seconds=seconds, updates_per_s=len(raw["latencies"]) / seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        max_ms=latencies[-1] * 1000, cpu_s=raw["cpu_s"], bot_cpu_s=raw["bot_cpu_s"],
        cpu_share=raw["cpu_s"] / seconds,
        api_calls=raw["api_calls"], http_429=raw["http_429"], unfinished=raw["unfinished"],
        gc_max_pause_ms=raw["gc_max_pause_ms"],
        pinned_cpus=pinned, fake_server=fake,
    )


def run(users: int = 1000, updates: int = 6000, as_json: bool = False, *, rate: float = 300.0,
        stores: tuple[str, ...] = ("memory", "sqlite"), fake: str = "loop") -> int:
    """Run the bench for each store; prints a summary (or JSON lines). Returns the exit code."""
    try:
        _fake_server_class()
    except BenchUnavailable as error:
        print(f"coach: {error}", file=sys.stderr)
        return 2
    pinned, affinity = _pin_one_cpu()
    workdir = Path(tempfile.mkdtemp(prefix=".coach-bench-", dir=Path.cwd()))
    results = []
    try:
        for kind in stores:
            raw = asyncio.run(_one_run(kind, users, updates, rate, workdir, fake))
            results.append(_result(kind, users, updates, rate, raw, pinned, fake))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    for result in results:
        if as_json:
            print(json.dumps(asdict(result)))
            continue
        calls = ", ".join(f"{name} {count}" for name, count in sorted(result.api_calls.items()))
        where = ("in this process, on the bot's event loop" if result.fake_server == "loop"
                 else "in a thread of this process")
        print(f"telegram store={result.store} users={result.users} updates={result.updates} "
              f"offered {result.offered_per_s:.0f}/s, pinned to {result.pinned_cpus} CPU, "
              f"fake server {where}")
        print(f"  end to end: {result.updates_per_s:,.0f} updates/s  "
              f"p50 {result.p50_ms:.1f} ms  p99 {result.p99_ms:.1f} ms  "
              f"max {result.max_ms:.1f} ms  (longest GC pause {result.gc_max_pause_ms:.1f} ms)")
        per_update = result.cpu_s / max(result.updates, 1) * 1000
        print(f"  cpu:        {result.cpu_s:.1f} s in {result.seconds:.1f} s "
              f"({result.cpu_share:.0%} of the core, {per_update:.1f} ms per update); "
              f"event-loop thread {result.bot_cpu_s:.1f} s, "
              f"other threads {max(result.cpu_s - result.bot_cpu_s, 0):.1f} s")
        print(f"  api calls:  {calls}; 429s {result.http_429}; "
              f"unfinished {result.unfinished}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
