"""The whole Telegram path, measured against the fake Bot API server (a checkout's tool).

Run from a checkout: `.venv/bin/python tools/telegram_bench.py [--store memory|sqlite|both] ...`.
It lives here, not in the installed packages, because the fake server is test code.

What runs: simulated people push updates into the fake server (tests/fakes/telegram_api.py,
real HTTP on 127.0.0.1); the real adapter long-polls them, runs the real core and store, and
sends its replies back over HTTP. All times are on one monotonic clock.

What is measured, per update, from the moment it is queued at the fake ("at Telegram"):
  * bot latency: until the first Bot API call of its reply reaches the fake (the button's
    answerCallbackQuery, taking an old keyboard off, or the first message). This is what the
    bot controls: fetching the update, the core, the store's commit, queueing the reply.
    Its first part, "pickup", until the fake handed the update to the bot, is shown too.
  * delivery latency: until the last message of its reply reached the fake. It includes the
    pacing Telegram imposes (about one message a second per chat, short bursts allowed), so a
    reply of several parts takes seconds by design; that is Telegram's limit, not the bot's.
Throughput is updates handled (first call made) per second.

How: an open loop at a fixed offered rate (`--rate`, default 300 updates/s) spread over 1,000
people, each with at most one update in flight, as people wait for an answer before they
answer back. Their first update is /start; after that they press a button of the last reply
or type an answer. An update pushed more than 5 ms after its time is counted as late: the core
was too busy to push it on time, or every person was still waiting.

The ramp: after the main run (`--ramp`, on by default), rising rates (`--ramp-step`, 100/s)
are offered for a few seconds each (`--ramp-seconds`, 3) to a fresh bot with new people,
until one is not sustained: handled under 95 % of offered, bot p99 over 50 ms, over 1 % late,
or a reply unfinished. The highest sustained rate shows the headroom. The ramp turns per-chat
pacing off, on both sides: with it, 1,000 people can take only about 500 replies a second in
all (one message a second each), which would measure Telegram's limit instead of the bot.

One core: the process pins itself to one CPU (os.sched_setaffinity) and says so; bot, core,
store, driver and the fake server all share it (the fake runs on the bot's event loop, or in
a thread with `fake="thread"`), so the figures are a floor for the bot alone.

Pacing in the main run: the adapter's per-chat pacing stays at its production values (1
message/s, bursts of 5) and the fake enforces the same rate with one message more of burst, so
any pacing mistake shows up as 429s. (The one message of slack is for the clocks: the adapter
counts from when it sends, the server from when requests arrive.) The adapter's global 30
messages/s bucket is off: 300 updates/s means more than 300 messages/s, far beyond what
Telegram allows a bot (the fake does not model that limit).

Garbage collection: the fake records every call and message it sees, so this process's heap
grows all through the run and each full collection walks all of it (pauses of 150 ms were
seen). That is the fake's state, not the bot's, so the driver calls `gc.freeze()` once a
second: what exists by then is left out of later collections; young objects, which is all
the bot makes per update, are still collected as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adapters.telegram import Pacing, TelegramBot, TelegramConfig, keyboard
from adapters.telegram import telegram_messages as plan
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
GOAL_RATE = 300.0  # updates/s on one core (issue 5)
GOAL_P99_MS = 50.0
SUSTAINED_SHARE = 0.95  # of the offered rate, handled
LATE_AFTER = 0.005  # seconds after its time an update counts as pushed late
LATE_SHARE = 0.01  # of the updates, pushed late
STORES = ("memory", "sqlite")
REPLY_CALLS = frozenset({"sendMessage", "sendDocument", "editMessageReplyMarkup",
                         "sendChatAction"})


ROOT = Path(__file__).resolve().parent.parent


def _fake_server_class() -> Any:
    """The fake lives with the tests of this checkout (tests/fakes/telegram_api.py). The
    checkout goes last on the path: only `tests` is taken from it, never the coach itself."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from tests.fakes.telegram_api import FakeTelegramAPI

    return FakeTelegramAPI


@dataclass(eq=False)
class Person:
    """One simulated user: what is on their screen and their update in flight."""

    chat: int
    started: bool = False
    message_id: int | None = None
    buttons: list[str] = field(default_factory=list)
    update_id: int | None = None
    query: str | None = None  # the callback query id, for a press
    pushed: float = 0.0
    first: float = 0.0  # the first API call of the reply
    expected: int | None = None  # messages in the reply, once the core has answered
    received: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class Timing:
    """One update: queued at the fake, handed to the bot, first reply call, last message."""

    pushed: float
    handed: float
    first: float
    last: float


class CountingCoach(Coach):
    """The real core; also notes how many messages each reply becomes (for the bench only)."""

    collector: Collector

    async def handle(self, message: Incoming) -> Reply:
        reply = await super().handle(message)
        person = self.collector.people.get(int(message.user.user_id))
        if person is not None:
            person.expected = 0 if reply.duplicate else len(
                plan(reply, keyboard(reply.choices), private=True))
            self.collector.touched.add(person)
        return reply


@dataclass
class Step:
    """One rate of the ramp."""

    offered_per_s: float
    updates: int
    updates_per_s: float
    bot_p50_ms: float
    bot_p99_ms: float
    late: int
    unfinished: int
    cpu_ms_per_update: float
    sustained: bool


@dataclass
class TelegramBenchResult:
    store: str
    users: int
    updates: int
    offered_per_s: float
    seconds: float
    updates_per_s: float  # handled: the first API call of the reply made
    bot_p50_ms: float
    bot_p99_ms: float
    bot_max_ms: float
    pickup_p50_ms: float
    pickup_p99_ms: float
    delivery_p50_ms: float
    delivery_p99_ms: float
    delivery_max_ms: float
    late: int
    cpu_s: float
    bot_cpu_s: float  # the event-loop thread: adapter, PTB, core, driver (and the fake if "loop")
    cpu_share: float
    api_calls: dict[str, int]
    http_429: int
    unfinished: int
    gc_max_pause_ms: float
    fake_server: str = "loop"
    pinned_cpus: int = 1
    pinned: str = ""
    ramp: list[Step] = field(default_factory=list)
    sustained_per_s: float | None = None  # the highest ramp rate sustained

    @property
    def meets_goal(self) -> bool:
        return (self.updates_per_s >= SUSTAINED_SHARE * GOAL_RATE
                and self.offered_per_s >= GOAL_RATE and self.bot_p99_ms < GOAL_P99_MS)


def _pin_one_cpu() -> tuple[int, str, set[int] | None]:
    """Pin this process to one CPU: (CPUs used, what was done, the affinity to restore)."""
    try:
        before = os.sched_getaffinity(0)
        cpu = min(before)
        os.sched_setaffinity(0, {cpu})
        return 1, f"pinned to CPU {cpu} (os.sched_setaffinity)", before
    except (AttributeError, OSError) as error:  # not Linux: say so in the result
        count = os.cpu_count() or 0
        return count, f"not pinned ({type(error).__name__}): may use {count} CPUs", None


def _next_update(server: Any, person: Person, rng: random.Random) -> dict[str, Any]:
    """Press a button of the last reply, or type an answer (always at a text prompt)."""
    if not person.started:
        person.started = True
        return server.push_command(person.chat, "start")
    if person.buttons and (len(person.buttons) > 1 or rng.random() < 0.2):
        return server.push_callback(person.chat, rng.choice(person.buttons),
                                    message_id=person.message_id)
    return server.push_message(person.chat, rng.choice(ANSWERS))


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
    """Reads the fake's recorded calls: notes each reply's first call, and completes people
    whose whole reply arrived."""

    def __init__(self, server: Any, people: dict[int, Person], idle: deque[Person]) -> None:
        self.server = server
        self.people = people
        self.idle = idle
        self.cursor = len(server.calls)
        self.open: list[Any] = []  # message calls not answered yet when last seen
        self.queries: dict[str, Person] = {}
        self.timings: list[Timing] = []
        self.touched: set[Person] = set()

    def pushed(self, person: Person, update: dict[str, Any]) -> None:
        person.update_id = int(update["update_id"])
        query = update.get("callback_query")
        person.query = query["id"] if query else None
        if person.query:
            self.queries[person.query] = person

    def scan(self) -> None:
        calls = self.server.calls
        new, self.cursor = calls[self.cursor:len(calls)], len(calls)
        for call in new:
            if call.method == "answerCallbackQuery":
                person = self.queries.pop(str(call.params.get("callback_query_id")), None)
            elif call.method in REPLY_CALLS:
                person = self.people.get(call.params.get("chat_id"))
            else:
                continue
            if person is not None and person.pushed and not person.first:
                person.first = call.time
            if call.method in ("sendMessage", "sendDocument"):
                self.open.append(call)
        still_open = []
        for call in self.open:
            if call.status is None:
                still_open.append(call)
            elif call.status == 200:
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
        handed = self.server.delivered_at.get(person.update_id, person.pushed)
        first = person.first or person.last or person.pushed
        self.timings.append(Timing(person.pushed, handed, first, person.last or first))
        if person.query:
            self.queries.pop(person.query, None)
        person.pushed = person.first = person.last = 0.0
        person.expected, person.received, person.update_id, person.query = None, 0, None, None
        self.idle.append(person)


@dataclass
class Phase:
    timings: list[Timing]
    started: float
    late: int
    unfinished: int


async def _drive(server: Any, coach: CountingCoach, people: dict[int, Person], updates: int,
                 rate: float, rng: random.Random) -> Phase:
    idle: deque[Person] = deque(p for p in people.values() if not p.pushed)
    collector = coach.collector = Collector(server, people, idle)
    started = frozen = time.monotonic()
    late = 0
    for n in range(updates):
        due = started + n / rate
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        collector.scan()
        while not idle:  # everyone is waiting for a reply
            await asyncio.sleep(0.001)
            collector.scan()
        if time.monotonic() - due > LATE_AFTER:  # the core is saturated, or nobody was free
            late += 1
        if due - frozen > 1.0:
            gc.freeze()  # see the module docstring: keep the fake's records out of full GCs
            frozen = due
        person = idle.popleft()
        person.pushed = time.monotonic()
        collector.pushed(person, _next_update(server, person, rng))
    deadline = time.monotonic() + 30
    while len(idle) < len(people) and time.monotonic() < deadline:
        collector.scan()
        await asyncio.sleep(0.002)
    return Phase(collector.timings, started, late, len(people) - len(idle))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _people(users: int, first_chat: int) -> dict[int, Person]:
    return {first_chat + n: Person(first_chat + n) for n in range(users)}


def _ms(values: list[float], share: float) -> float:
    """The `share` quantile (0.5, 0.99, 1.0) of `values`, in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if share >= 1.0:
        return ordered[-1] * 1000
    if share == 0.5:
        return statistics.median(ordered) * 1000
    return ordered[max(0, int(len(ordered) * share) - 1)] * 1000


def _handled_rate(phase: Phase) -> float:
    if not phase.timings:
        return 0.0
    return len(phase.timings) / max(max(t.first for t in phase.timings) - phase.started, 1e-9)


async def _start_bot(kind: str, workdir: Path, fake: str, pacing: Pacing, name: str
                     ) -> tuple[Any, Any, CountingCoach, TelegramBot]:
    FakeTelegramAPI = _fake_server_class()
    server = FakeTelegramAPI(TOKEN, max_poll_wait=1.0)
    if fake == "thread":
        _, stop_thread = server.run_in_thread()

        async def stop_server() -> None:
            stop_thread()
    else:
        await server.start()
        stop_server = server.stop
    store: Store = MemoryStore() if kind == "memory" else open_store(str(workdir / f"{name}.db"))
    coach = CountingCoach(load_flows(), store)
    coach.collector = Collector(server, {}, deque())
    if pacing.per_chat:
        server.enforce_chat_rate(pacing.per_chat, burst=pacing.chat_burst + 1)
    bot = TelegramBot(coach, TelegramConfig(token=TOKEN, base_url=server.base_url,
                                            poll_timeout=1, pacing=pacing))
    await bot.start()
    return server, stop_server, coach, bot


async def _one_run(kind: str, users: int, updates: int, rate: float, workdir: Path,
                   fake: str) -> dict:
    pacing = Pacing(overall=None)  # per-chat pacing as in production; see the docstring
    server, stop_server, coach, bot = await _start_bot(kind, workdir, fake, pacing, kind)
    try:
        # warm-up, with other people: the measured ones start with Telegram's full burst
        await _drive(server, coach, _people(min(users, 100), FIRST_CHAT * 2),
                     min(updates, 600), rate, random.Random(7))
        mark = len(server.calls)
        cpu, bot_cpu = resource.getrusage(resource.RUSAGE_SELF), time.thread_time()
        pauses = GCPauses()
        gc.callbacks.append(pauses)
        phase = await _drive(server, coach, _people(users, FIRST_CHAT), updates, rate,
                             random.Random(1))
        cpu_after, bot_cpu = resource.getrusage(resource.RUSAGE_SELF), time.thread_time() - bot_cpu
        gc.callbacks.remove(pauses)
        calls = server.calls[mark:]
    finally:
        await bot.stop()
        await coach.store.close()
        await stop_server()
    cpu_s = (cpu_after.ru_utime - cpu.ru_utime) + (cpu_after.ru_stime - cpu.ru_stime)
    return {
        "phase": phase, "cpu_s": cpu_s, "bot_cpu_s": bot_cpu,
        "gc_max_pause_ms": pauses.longest * 1000,
        "api_calls": dict(Counter(c.method for c in calls)),
        "http_429": sum(c.status == 429 for c in calls),
    }


async def _ramp(kind: str, users: int, start: float, step: float, seconds: float,
                workdir: Path, fake: str, max_steps: int = 25) -> list[Step]:
    """Rising offered rates until one is not sustained; per-chat pacing off (docstring)."""
    server, stop_server, coach, bot = await _start_bot(kind, workdir, fake, Pacing.off(),
                                                       f"{kind}-ramp")
    steps: list[Step] = []
    people = _people(users, FIRST_CHAT * 3)
    rng = random.Random(3)
    try:
        await _drive(server, coach, people, min(600, users), start, rng)  # warm-up
        rate = start
        for _ in range(max_steps):
            count = max(200, int(rate * seconds))
            cpu = _cpu()
            phase = await _drive(server, coach, people, count, rate, rng)
            cpu = _cpu() - cpu
            bot_ms = [t.first - t.pushed for t in phase.timings]
            handled = _handled_rate(phase)
            p99 = _ms(bot_ms, 0.99)
            sustained = (handled >= SUSTAINED_SHARE * rate and p99 < GOAL_P99_MS
                         and phase.late <= LATE_SHARE * count and not phase.unfinished)
            steps.append(Step(rate, len(phase.timings), handled, _ms(bot_ms, 0.5), p99,
                              phase.late, phase.unfinished,
                              cpu / max(len(phase.timings), 1) * 1000, sustained))
            if not sustained:
                break
            rate += step
    finally:
        await bot.stop()
        await coach.store.close()
        await stop_server()
    return steps


def _result(kind: str, users: int, rate: float, raw: dict, pinned: tuple[int, str],
            fake: str, steps: list[Step]) -> TelegramBenchResult:
    phase: Phase = raw["phase"]
    timings = phase.timings
    seconds = max((max(t.last for t in timings) if timings else 0.0) - phase.started, 1e-9)
    bot = [t.first - t.pushed for t in timings]
    pickup = [t.handed - t.pushed for t in timings]
    delivery = [t.last - t.pushed for t in timings]
    sustained = [s.offered_per_s for s in steps if s.sustained]
    return TelegramBenchResult(
        store=kind, users=users, updates=len(timings), offered_per_s=rate, seconds=seconds,
        updates_per_s=_handled_rate(phase),
        bot_p50_ms=_ms(bot, 0.5), bot_p99_ms=_ms(bot, 0.99), bot_max_ms=_ms(bot, 1.0),
        pickup_p50_ms=_ms(pickup, 0.5), pickup_p99_ms=_ms(pickup, 0.99),
        delivery_p50_ms=_ms(delivery, 0.5), delivery_p99_ms=_ms(delivery, 0.99),
        delivery_max_ms=_ms(delivery, 1.0), late=phase.late,
        cpu_s=raw["cpu_s"], bot_cpu_s=raw["bot_cpu_s"], cpu_share=raw["cpu_s"] / seconds,
        api_calls=raw["api_calls"], http_429=raw["http_429"], unfinished=phase.unfinished,
        gc_max_pause_ms=raw["gc_max_pause_ms"], fake_server=fake, pinned_cpus=pinned[0],
        pinned=pinned[1], ramp=steps, sustained_per_s=max(sustained) if sustained else None,
    )


def run(users: int = 1000, updates: int = 6000, as_json: bool = False, *, rate: float = 300.0,
        stores: Sequence[str] = ("memory",), fake: str = "loop", ramp: bool = True,
        ramp_step: float = 100.0, ramp_seconds: float = 3.0) -> int:
    """Run the bench for each store in `stores`; prints a summary (or one JSON line per
    store). Returns the exit code."""
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        print(f"telegram_bench: unknown store {unknown[0]!r} for the Telegram bench: use "
              f"{' or '.join(STORES)}", file=sys.stderr)
        return 2
    count, how, affinity = _pin_one_cpu()
    workdir = Path(tempfile.mkdtemp(prefix=".coach-bench-", dir=Path.cwd()))
    results = []
    try:
        for kind in stores:
            raw = asyncio.run(_one_run(kind, users, updates, rate, workdir, fake))
            steps = asyncio.run(_ramp(kind, users, rate, ramp_step, ramp_seconds, workdir,
                                      fake)) if ramp else []
            results.append(_result(kind, users, rate, raw, (count, how), fake, steps))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    for result in results:
        if as_json:
            print(json.dumps(asdict(result)))
        else:
            _print(result)
    return 0


def _print(result: TelegramBenchResult) -> None:
    calls = ", ".join(f"{name} {count}" for name, count in sorted(result.api_calls.items()))
    where = ("in this process, on the bot's event loop" if result.fake_server == "loop"
             else "in a thread of this process")
    print(f"telegram store={result.store} users={result.users} updates={result.updates}, "
          f"offered {result.offered_per_s:.0f}/s (open loop); {result.pinned}; "
          f"fake server {where}")
    print(f"  handled:    {result.updates_per_s:,.0f} updates/s; late {result.late}; "
          f"unfinished {result.unfinished}")
    print(f"  bot:        p50 {result.bot_p50_ms:.1f} ms  p99 {result.bot_p99_ms:.1f} ms  "
          f"max {result.bot_max_ms:.1f} ms  (update at Telegram -> first API call of its "
          f"reply; pickup p50 {result.pickup_p50_ms:.1f} ms, p99 {result.pickup_p99_ms:.1f} ms)")
    print(f"  delivery:   p50 {result.delivery_p50_ms:.0f} ms  p99 {result.delivery_p99_ms:.0f} "
          f"ms  max {result.delivery_max_ms:.0f} ms  (-> last message of the reply, with "
          f"Telegram's per-chat pacing)")
    per_update = result.cpu_s / max(result.updates, 1) * 1000
    print(f"  cpu:        {result.cpu_s:.1f} s in {result.seconds:.1f} s "
          f"({result.cpu_share:.0%} of the core, {per_update:.1f} ms per update); "
          f"event-loop thread {result.bot_cpu_s:.1f} s, "
          f"other threads {max(result.cpu_s - result.bot_cpu_s, 0):.1f} s; "
          f"longest GC pause {result.gc_max_pause_ms:.1f} ms")
    print(f"  api calls:  {calls}; 429s {result.http_429}")
    goal = "meets" if result.meets_goal else "MISSES"
    print(f"  goal:       {goal} {GOAL_RATE:.0f} updates/s with bot p99 under "
          f"{GOAL_P99_MS:.0f} ms on one core")
    if result.ramp:
        steps = "; ".join(f"{s.offered_per_s:.0f}/s {'ok' if s.sustained else 'NOT sustained'}"
                          f" (handled {s.updates_per_s:.0f}/s, p99 {s.bot_p99_ms:.1f} ms, "
                          f"late {s.late}, {s.cpu_ms_per_update:.2f} ms CPU per update)"
                          for s in result.ramp)
        best = (f"{result.sustained_per_s:.0f} updates/s" if result.sustained_per_s
                else "none of the rates")
        print(f"  ramp:       {steps}")
        print(f"  sustained:  {best} on one core, per-chat pacing off, fake included")


def main(argv: Sequence[str] | None = None) -> int:
    """`python tools/telegram_bench.py`, from a checkout."""
    parser = argparse.ArgumentParser(prog="tools/telegram_bench.py",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", choices=(*STORES, "both"), default="memory",
                        help="which store to measure (default memory)")
    parser.add_argument("--users", type=int, default=1000, help="simulated people")
    parser.add_argument("--messages", "--updates", dest="updates", type=int, default=6000,
                        help="updates in the main run")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="offered updates per second, open loop (default 300)")
    parser.add_argument("--ramp", action=argparse.BooleanOptionalAction, default=True,
                        help="then offer rising rates to find the highest sustained")
    parser.add_argument("--ramp-step", type=float, default=100.0,
                        help="updates/s added per ramp step")
    parser.add_argument("--ramp-seconds", type=float, default=3.0, help="seconds per step")
    parser.add_argument("--fake", choices=("loop", "thread"), default="loop",
                        help="run the fake server on the bot's event loop or in a thread")
    parser.add_argument("--json", action="store_true", help="one JSON line per store")
    args = parser.parse_args(argv)
    if args.users < 1 or args.updates < 1 or args.rate <= 0 or args.ramp_step <= 0:
        parser.error("--users, --updates, --rate and --ramp-step must be positive")
    stores = STORES if args.store == "both" else (args.store,)
    return run(args.users, args.updates, args.json, rate=args.rate, stores=stores,
               fake=args.fake, ramp=args.ramp, ramp_step=args.ramp_step,
               ramp_seconds=args.ramp_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
