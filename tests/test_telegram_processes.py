"""Three `coach telegram` webhook processes on one PostgreSQL database, as a load balancer
would use them: the fake Bot API's updates are POSTed round-robin (sometimes the same update to
two processes at once), 200 people walk the flows, one process is killed with SIGKILL and
started again mid-run, and PostgreSQL is restarted once. Every update is answered exactly once
(a step shown again after a crash, "Welcome back", is allowed and counted), each person's
replies come in order, and every update acknowledged with a 200 is in its person's session.

Like Telegram, the driver sends a chat's next update only once the previous one was answered
2xx by every process it went to, and sends an update again (to the next process) when it was
not; a person sends their next message once their reply is there, as a person does."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from adapters.telegram.config import derived_secret
from bot.crypto import Cipher, new_key
from bot.store.postgres import PostgresStore
from tests.conftest import REPO
from tests.fakes.telegram_api import SECRET_TOKEN_HEADER, FakeTelegramAPI
from tests.pg_server import new_database
from tests.telegram_harness import TOKEN, command_env, free_port

PEOPLE = 200
STEPS = 6  # updates per person
PROCESSES = 3
TWICE_EVERY = 9  # every 9th update also goes to a second process at the same time
WELCOME_BACK = "Welcome back"
SETTLE = 180.0  # the whole walk's bound: only a broken build waits this long


@dataclass
class Person:
    chat: int
    acked: list[int] = field(default_factory=list)  # update ids answered 2xx
    windows: list[list[str]] = field(default_factory=list)  # bot messages after each update


@dataclass
class Run:
    server: FakeTelegramAPI
    ports: list[int]
    secret: str
    env: dict[str, str]
    procs: list[subprocess.Popen | None]
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    turn: itertools.count = field(default_factory=itertools.count)
    delivered: int = 0
    resent_deliveries: int = 0  # deliveries that failed (a process down) and were sent again
    acked: int = 0
    open: int = 0  # updates delivered and not yet answered 2xx
    marks: dict[int, asyncio.Event] = field(default_factory=dict)  # acked count -> reached

    def ack(self) -> None:
        self.acked += 1
        mark = self.marks.get(self.acked)
        if mark is not None:
            mark.set()

    def mark(self, count: int) -> asyncio.Event:
        return self.marks.setdefault(count, asyncio.Event())


async def post(session: aiohttp.ClientSession, run: Run, port: int,
               update: dict[str, Any]) -> int | None:
    try:
        async with session.post(f"http://127.0.0.1:{port}/hook", json=update,
                                headers={SECRET_TOKEN_HEADER: run.secret}) as response:
            return response.status
    except (TimeoutError, aiohttp.ClientError):
        return None


async def deliver(session: aiohttp.ClientSession, run: Run, update: dict[str, Any]) -> None:
    """Until some process answered 2xx; some updates go to two processes at once."""
    while True:
        first = next(run.turn) % PROCESSES
        targets = [first]
        if update["update_id"] % TWICE_EVERY == 0:
            targets.append((first + 1) % PROCESSES)
        statuses = await asyncio.gather(*(post(session, run, run.ports[i], update)
                                          for i in targets))
        run.delivered += len(targets)
        if any(status is not None and 200 <= status < 300 for status in statuses):
            return
        run.resent_deliveries += 1
        await asyncio.sleep(0.05)  # Telegram's retry backoff, shortened


def bot_messages(run: Run, chat: int) -> list[Any]:
    return [m for m in run.server.sent_messages(chat) if m.method == "sendMessage"]


def next_update(run: Run, person: Person, step: int) -> dict[str, Any]:
    if step == 0:
        update = run.server.message_update(
            person.chat, "/start", entities=[{"type": "bot_command", "offset": 0,
                                              "length": 6}])
    else:
        last = bot_messages(run, person.chat)[-1]
        buttons = [b for row in (last.reply_markup or {}).get("inline_keyboard", [])
                   for b in row if "callback_data" in b and "elete" not in b["text"]]
        if buttons:
            button = buttons[(person.chat + step) % len(buttons)]
            update = run.server.callback_update(person.chat, button["callback_data"],
                                                message_id=last.message_id)
        else:
            update = run.server.message_update(
                person.chat, "I feel hurt when you message your ex late at night")
    update["update_id"] = next(run.ids)
    return update


async def walk(session: aiohttp.ClientSession, run: Run, person: Person) -> None:
    for step in range(STEPS):
        before = len(bot_messages(run, person.chat))
        update = next_update(run, person, step)
        run.open += 1
        await deliver(session, run, update)
        run.open -= 1
        person.acked.append(update["update_id"])
        run.ack()
        # With several processes the 200 comes once the reply is out: it is there now.
        person.windows.append([m.text or "" for m in bot_messages(run, person.chat)[before:]])


def start(run: Run, index: int) -> None:
    """`coach telegram` with its webhook on the index's port (the URL Telegram is given is
    the load balancer's; the driver here is the load balancer)."""
    run.procs[index] = subprocess.Popen(
        [sys.executable, "-m", "bot", "--store", run.env["COACH_STORE"], "telegram",
         "--webhook-url", "http://127.0.0.1:9/hook", "--listen", "127.0.0.1",
         "--port", str(run.ports[index])],
        cwd=REPO, env=run.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def started(run: Run, index: int) -> None:
    """Start the process at `index`; returns once it has told the fake where its webhook
    is, which it does once it listens."""
    webhooks = len(run.server.calls_to("setWebhook", ok_only=True))
    start(run, index)
    await run.server.wait_until(
        lambda: len(run.server.calls_to("setWebhook", ok_only=True)) > webhooks, timeout=120)


async def test_three_webhook_processes_answer_every_update_once(pg_cluster) -> None:
    url = new_database(pg_cluster.url)
    key = new_key().decode()
    async with FakeTelegramAPI(TOKEN) as server, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60)) as session:
        env = command_env(server, url, TOKEN)  # type: ignore[arg-type]
        env.update({"COACH_SECRET_KEY": key})  # the webhook secret: made from the token
        run = Run(server, [free_port() for _ in range(PROCESSES)], derived_secret(TOKEN), env,
                  [None] * PROCESSES)
        people = [Person(1000 + n) for n in range(PEOPLE)]
        victim: subprocess.Popen | None = None
        in_flight = 0
        third, two_thirds = run.mark(PEOPLE * STEPS // 3), run.mark(PEOPLE * STEPS * 2 // 3)
        try:
            for index in range(PROCESSES):
                await started(run, index)
            walks = [asyncio.create_task(walk(session, run, person)) for person in people]
            async with asyncio.timeout(SETTLE):
                await third.wait()
                victim = run.procs[1]
                in_flight = run.open
                victim.send_signal(signal.SIGKILL)  # mid-run, with updates in flight
                await asyncio.to_thread(victim.wait)
                await started(run, 1)
                await two_thirds.wait()
                in_flight += run.open
                await asyncio.to_thread(pg_cluster.restart)
                in_flight += run.open  # those that waited for the server
                await asyncio.gather(*walks)
        finally:
            for proc in run.procs:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            errors = [proc.communicate(timeout=60)[1].decode() for proc in run.procs
                      if proc is not None]
            killed = victim.communicate()[1].decode() if victim is not None else ""

    assert not any("Traceback" in text for text in [*errors, killed]), "\n".join(errors)
    lost = [(p.chat, n) for p in people for n, window in enumerate(p.windows) if not window]
    assert lost == []  # every update answered
    resends, twice = 0, []
    for person in people:
        for n, window in enumerate(person.windows):
            plain = [text for text in window if not text.startswith(WELCOME_BACK)]
            resends += len(window) - len(plain)
            if len(plain) > 1 or len(window) - len(plain) > 1:  # a step shown again once at most
                twice.append((person.chat, n, plain))
    assert twice == []  # never the same step answered twice
    # Shown again only for updates in flight at the kill or the restart (whose process may
    # have died, or seemed to while the server was away), never for the others.
    assert resends <= in_flight, (resends, in_flight)
    print(f"\n{PEOPLE * STEPS} updates, {run.delivered} deliveries "
          f"({run.resent_deliveries} sent again), {resends} steps shown again "
          f"({in_flight} updates in flight at the kill and around the restart)")

    store = PostgresStore(url, Cipher([key.encode()], "test"))
    try:
        for person in people:
            session_ = await store.load(f"telegram:{person.chat}")
            assert session_ is not None
            assert set(map(str, person.acked)) <= set(session_.seen), person.chat
    finally:
        await store.close()
