"""After a restart (adapters/telegram/recovery.py): whoever the previous run left without
their whole reply gets their step again, once, after "Welcome back"; button presses are
answered while Telegram still knows them; nobody is lost to kill -9, in a backlog of 1,500."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bot.store.url import open_store
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall
from tests.telegram_harness import (
    ALICE,
    BOB,
    CAROL,
    CONSENT,
    FLOWS,
    TEXTS,
    WAIT,
    bot_process,
    complete_replies,
    labels_on_screen,
    last_part,
    ledger_count,
    ledger_path,
    ledger_users,
    on_screen,
    press_in_thread,
    reply_to,
    running,
    sent_text,
    stop_command,
    texts,
)

pytest_plugins = ["tests.telegram_fixtures"]


def _note_taken(ledger: Path, rows: list[tuple[object, ...]]) -> None:
    """Rows as a killed run leaves them: (update, chat, user, committed, taken at, query)."""
    with contextlib.closing(sqlite3.connect(ledger)) as db, db:
        db.executemany("INSERT INTO taken (update_id, chat_id, user_id, committed, at, query_id)"
                       " VALUES (?, ?, ?, ?, ?, ?)", rows)


async def test_after_a_crash_unanswered_updates_get_the_current_step_again(
        server: FakeTelegramAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What a kill -9 at the wrong moment leaves in the ledger, and what the next start does
    with it: an update noted as committed (Telegram will not send it again) gets the person's
    step at start; one noted only as taken gets it when Telegram sends it again and the core
    finds it committed. Either way once, after "Welcome back". A committed button press is
    answered at start while Telegram still knows it (its spinner stops); one taken long ago
    is not tried, and one Telegram has forgotten is refused quietly."""
    caplog.set_level(logging.INFO, logger="coach.telegram")
    path = tmp_path / "crash.db"
    async with running(server, open_store(str(path))) as first:
        await first.begin(ALICE)
        await first.begin(BOB)
        await first.boundaries(CAROL)
        alice = server.push_command(ALICE, "help")
        bob = server.push_command(BOB, "help")
        await first.press(CAROL, "Let's start")
        await first.settled()
    carol_press = first.pressed[-1]
    ledger = ledger_path(path)
    now = time.time()
    rows = [  # update, chat, user, committed, taken at, callback query
        (alice["update_id"], ALICE, ALICE, 1, now, None),  # committed, reply not noted as sent
        (bob["update_id"], BOB, BOB, 0, now, None),  # taken, not committed
        (900_001, CAROL, CAROL, 1, now, carol_press),  # a press, still known to Telegram
        (900_002, CAROL, CAROL, 1, now - 3600, "4242000000000000777"),  # pressed long ago
        (900_003, CAROL, CAROL, 1, now, "4242000000000000888"),  # one Telegram has forgotten
    ]
    _note_taken(ledger, rows)
    welcome = TEXTS.get("welcome_back_menu")
    carol_welcome = TEXTS.get("welcome_back", title=FLOWS.flows["boundaries"].spec.title)
    before = {chat: len(server.sent_messages(chat)) for chat in (ALICE, BOB, CAROL)}
    answered_before = len(server.callback_answers)

    def new(chat: int) -> list[str]:
        return texts(server.sent_messages(chat)[before[chat]:])

    def answers(query_id: str) -> list[RecordedCall]:
        return [c for c in server.calls_to("answerCallbackQuery")
                if c.params["callback_query_id"] == query_id]

    async with running(server, open_store(str(path))) as second:
        await server.wait_until(lambda: welcome in new(ALICE))  # at start, without asking
        await server.wait_until(lambda: carol_welcome in new(CAROL))
        assert new(BOB) == []
        server.push_update(bob)  # never confirmed, so Telegram sends it again
        server.push_update(alice)  # and a stray second delivery of Alice's
        await second.settled()
    for chat in (ALICE, BOB):
        assert new(chat).count(welcome) == 1 and new(chat)[0] == welcome, new(chat)
        assert server.sent_messages(chat)[-1].reply_markup  # the step, with its buttons
    assert new(CAROL)[0] == carol_welcome and new(CAROL)[-1].startswith("1 of 4")
    assert [c.status for c in answers(carol_press)][-1] == 200
    assert [a.callback_query_id for a in server.callback_answers[answered_before:]] == [
        carol_press]
    assert answers("4242000000000000777") == []  # too old to try
    assert [c.status for c in answers("4242000000000000888")] == [400]
    assert "event=callback_answer_expired" in caplog.text
    assert "event=send_failed" not in caplog.text
    assert ledger_count(ledger, "taken") == 0


PEOPLE = 1500
FIRST_PERSON = 7_000_000


@pytest.mark.parametrize("on_the_wire", [False, True], ids=["settled", "mid-burst"])
def test_kill_minus_nine_in_a_backlog_loses_no_update(threaded_server: FakeTelegramAPI,
                                                      tmp_path: Path, on_the_wire: bool) -> None:
    """The audit's repro: 1,500 people each send /start while the bot is down; it starts, is
    killed (-9) after 30 replies, and starts again. Nobody is left without a reply.

    The first people's replies are held at Telegram's door from the start, so whenever the
    kill lands it finds a backlog: updates committed whose replies never went out. Those
    people get their step after the restart, after "Welcome back".

    "settled": from the 30th reply on, Telegram (the fake) holds every message, and the kill
    comes once the bot has noted in its ledger every reply Telegram answered: then every
    person gets exactly one reply. "mid-burst": the kill lands while answers are still on the
    wire. Whoever's reply was delivered but not yet noted (their row still in the ledger,
    read right after the kill) may get their step a second time, because a reply is sent at
    least once, never lost. Nobody else does."""
    server, store = threaded_server, tmp_path / "backlog.db"
    ledger = ledger_path(store)
    people = range(FIRST_PERSON, FIRST_PERSON + PEOPLE)
    stuck = set(people[:3])
    for person in stuck:
        server.hold("sendMessage", person)
    for person in people:
        server.push_command(person, "start")
    adapter = os.environ.get("COACH_TEST_TELEGRAM_ADAPTER")  # to run an older adapter

    def held_for_all_stuck() -> bool:
        return stuck <= {c.params.get("chat_id") for c in server.calls if c.held}

    def all_answers_noted() -> bool:
        if any(c.status is None and not c.held for c in server.calls
               if c.method != "getUpdates"):
            return False  # an answer still on its way to the bot
        return not ledger_users(ledger) & set(complete_replies(server))

    proc = bot_process(server, store, adapter)
    try:
        server.wait_for_sync(lambda c: c.ok and c.method == "sendMessage"
                             and bool(c.params.get("reply_markup")), count=30, timeout=WAIT)
        server.wait_until_sync(held_for_all_stuck, timeout=WAIT)  # committed, being sent
        if not on_the_wire:
            server.hold("sendMessage")  # from now on nothing more is delivered
            server.wait_until_sync(all_answers_noted, timeout=WAIT, poll=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    unnoted = ledger_users(ledger)  # what the bot could not know was delivered
    for person in stuck:  # the killed process's requests never arrived
        server.release("sendMessage", person, drop=True)
    server.release("sendMessage", drop=True)
    assert stuck <= unnoted
    proc = bot_process(server, store, adapter)
    try:
        server.wait_until_sync(lambda: len(complete_replies(server)) >= PEOPLE
                               and not server.pending_updates, timeout=3 * WAIT, poll=0.2)
        out = stop_command(proc)  # SIGTERM: it sends what is queued before it exits
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    replies = complete_replies(server)
    unanswered = [p for p in people if p not in replies]
    assert not unanswered, f"{len(unanswered)} of {PEOPLE} people got no reply"
    welcome = TEXTS.get("welcome_back_menu")
    welcomed = {p for p in people if welcome in texts(server.sent_messages(p))}
    assert stuck <= welcomed, "the backlog the kill hit was not shown again"
    twice = {chat for chat, calls in replies.items() if len(calls) > 1}
    if not on_the_wire:
        assert not twice, f"{len(twice)} people got two replies"
    assert twice <= unnoted & welcomed, f"{len(twice - unnoted)} people got two replies"


def test_a_press_committed_before_a_kill_is_answered_after_the_restart(
        threaded_server: FakeTelegramAPI, tmp_path: Path) -> None:
    """A button press the core committed, and then the process is killed before Telegram
    heard anything back: not the answer to the press (the spinner on the button), nor the
    reply. Telegram will not send the press again (its offset was confirmed). After the
    restart the ledger has it: the press is answered, and the step is shown again."""
    server, store = threaded_server, tmp_path / "press.db"
    replies = ("answerCallbackQuery", "editMessageReplyMarkup", "sendMessage")
    proc = bot_process(server, store)
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        reply_to(server, lambda: server.push_command(ALICE, "start"))
        if CONSENT is not None and CONSENT in labels_on_screen(server):
            press_in_thread(server, CONSENT)
        reply_to(server, lambda: server.push_command(ALICE, "start", "boundaries"))
        for method in replies:  # from now on Telegram hears nothing of the reply
            server.hold(method)
        message_id, data = on_screen(server, ALICE, "Let's start")
        press = server.push_callback(ALICE, data, message_id=message_id)
        query_id = press["callback_query"]["id"]
        server.wait_for_sync(lambda c: c.method == "answerCallbackQuery" and c.held,
                             include_pending=True, timeout=WAIT)  # committed, answering
        server.wait_for_sync(lambda c: c.method == "getUpdates"
                             and int(c.params.get("offset") or 0) > press["update_id"],
                             include_pending=True, timeout=WAIT)  # the commit noted, confirmed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    for method in replies:
        server.release(method, drop=True)
    assert query_id not in [a.callback_query_id for a in server.callback_answers]
    mark = len(server.calls)
    proc = bot_process(server, store)
    try:
        [answer] = server.wait_for_sync(
            lambda c: c.method == "answerCallbackQuery"
            and c.params["callback_query_id"] == query_id, after=mark, timeout=WAIT)
        resumed = sent_text(server, ALICE, mark, lambda _, buttons: buttons)
        out = stop_command(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert answer.ok
    assert last_part(resumed).startswith("1 of 4")  # the press's step, shown again
    welcome = TEXTS.get("welcome_back", title=FLOWS.flows["boundaries"].spec.title)
    assert welcome in texts(server.sent_messages(ALICE))
    assert [a.callback_query_id for a in server.callback_answers].count(query_id) == 1


async def test_nobody_whose_last_update_erased_them_gets_a_new_session(
        server: FakeTelegramAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Alice's /delete was committed and the process died before its reply went out: after
    the restart she has no session, so there is no step to show again. She is not greeted
    (that would start a new session for her), and her row leaves the ledger."""
    caplog.set_level(logging.INFO, logger="coach.telegram")
    path = tmp_path / "erased.db"
    async with running(server, open_store(str(path))) as first:
        await first.begin(ALICE)
        await first.send(ALICE, "/delete")
        message_id, data = first.button(ALICE, TEXTS.get("delete_yes"))
        erase = server.push_callback(ALICE, data, message_id=message_id)
        await first.settled()
    _note_taken(ledger_path(path), [(erase["update_id"], ALICE, ALICE, 1, time.time(), None)])
    before = len(server.sent_messages(ALICE))
    async with running(server, open_store(str(path))) as second:
        await second.settled()
        assert await second.coach.store.load(f"telegram:{ALICE}") is None
    assert len(server.sent_messages(ALICE)) == before
    assert f"event=resend_skipped user=telegram:{ALICE} reason=no_session" in caplog.text
    assert ledger_count(ledger_path(path), "taken") == 0
