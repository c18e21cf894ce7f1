"""The Telegram bot as a whole (adapters/telegram/bot.py): its parts started in order, a
person's whole flow end to end, and `coach telegram` as a command (kill -9, logs, start-up
errors).

Real parts only: python-telegram-bot against the fake Bot API server, the real core and
SQLite store, real subprocesses. See tests/telegram_harness.py for how the tests wait.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from adapters.telegram import TelegramBot, TelegramConfig
from bot.commands import COMMANDS as COMMAND_TABLE
from bot.pipeline import Coach
from bot.store.memory import MemoryStore
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import (
    ALICE,
    BOB,
    FAST,
    FLOWS,
    INTRO,
    TEXTS,
    TOKEN,
    WAIT,
    Harness,
    command_env,
    free_port,
    labels,
    last_part,
    ledger_path,
    ledger_users,
    reply_to,
    start_command,
    stop_command,
    texts,
    to_the_first_question,
)

pytest_plugins = ["tests.telegram_fixtures"]


async def test_commands_are_registered_for_the_menu(tg: Harness) -> None:
    calls = tg.server.calls_to("setMyCommands", ok_only=True)
    [call] = [c for c in calls if not c.params.get("language_code")]
    names = [c["command"] for c in call.params["commands"]]
    # the core's command table, so /plan is offered in Telegram's menu too
    assert names == [command.name for command in COMMAND_TABLE if command.in_menus]
    assert "plan" in names and "export" in names
    assert all(c["description"] for c in call.params["commands"])


async def test_start_then_the_whole_boundaries_flow_by_buttons_and_text(tg: Harness) -> None:
    menu = await tg.begin(ALICE)
    assert menu[0].text and labels(menu[-1])

    intro = await tg.send(ALICE, "/start boundaries")  # the deep link t.me/<bot>?start=...
    assert texts(intro) == INTRO
    assert labels(intro[-1])[0] == "Let's start"
    rows = intro[-1].reply_markup["inline_keyboard"]  # type: ignore[index]
    short = all(len(label) <= 16 for label in labels(intro[-1]))
    assert len(rows[0]) == (2 if short else 1)

    question = await tg.press(ALICE, "Let's start")
    assert texts(question)[-1].startswith("1 of 4")
    answers = ["Friendly is fine, flirting is not.", "No private messages to exes.",
               "Open about new friends.", "Secrets would hurt."]
    for number, answer in enumerate(answers, start=2):
        reply = await tg.send(ALICE, answer)
        if number <= 4:
            assert texts(reply)[-1].startswith(f"{number} of 4")
    summary = "\n".join(texts(reply))
    positions = [summary.find(answer) for answer in answers]
    assert -1 not in positions and positions == sorted(positions), "answers shown in order"
    assert "Change my answers" in labels(reply[-1])

    everything = tg.messages(ALICE)
    assert all(m.reply_markup is None for m in everything[:-1]), "old buttons linger"
    assert all(m.parse_mode is None for m in everything)  # plain text, never markup
    # every press was answered, once, and nothing failed along the way
    assert sorted(a.callback_query_id for a in tg.server.callback_answers) == sorted(tg.pressed)
    assert all(c.ok for c in tg.server.calls_to("sendMessage"))


async def test_forged_and_stale_buttons_get_a_notice_and_the_current_step(
        tg: Harness) -> None:
    await tg.boundaries(ALICE)
    old_message, old_data = tg.button(ALICE, "Let's start")
    await tg.press(ALICE, "Let's start")

    after = len(tg.messages(ALICE))
    tg.server.push_callback(ALICE, "forged:1", message_id=old_message)
    reshown = await tg.until_keyboard(ALICE, after)
    assert tg.server.callback_answers[-1].text == TEXTS.get("bad_button")
    assert texts(reshown)[0] == TEXTS.get("bad_button")
    assert texts(reshown)[-1].startswith("1 of 4")

    after = len(tg.messages(ALICE))
    tg.server.push_callback(ALICE, old_data, message_id=old_message)
    reshown = await tg.until_keyboard(ALICE, after)
    assert tg.server.callback_answers[-1].text == TEXTS.get("stale_button")
    assert texts(reshown)[0] == TEXTS.get("stale_button")
    assert texts(reshown)[-1].startswith("1 of 4")
    assert len(tg.server.callback_answers) == len(tg.pressed) + 2  # every press answered
    assert [m for m in tg.messages(ALICE) if m.reply_markup] == [tg.messages(ALICE)[-1]]


def test_kill_minus_nine_mid_flow_then_resume(threaded_server: FakeTelegramAPI,
                                              tmp_path: Path) -> None:
    server, store = threaded_server, tmp_path / "k.db"
    proc = start_command(command_env(server, store))
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        to_the_first_question(server)
        answer: dict = {}
        assert last_part(reply_to(
            server, lambda: answer.update(server.push_message(ALICE, "Friendly.")))
        ).startswith("2 of 4")
        # Killed once the bot has noted that reply as sent. (A kill before that rightly shows
        # the step again after the restart: a reply goes out at least once. See
        # test_telegram_recovery.py.)
        server.wait_until_sync(lambda: not ledger_users(ledger_path(store)), timeout=WAIT,
                               poll=0.05)
        proc.send_signal(signal.SIGKILL)  # the answer was acknowledged: it must survive
        proc.wait(timeout=WAIT)
    finally:
        proc.kill()
    proc = start_command(command_env(server, store))
    try:
        mark = len(server.calls)
        server.wait_for_sync("getUpdates", include_pending=True, after=mark, timeout=WAIT)
        server.push_update(answer)  # redelivered after the crash: handled once already
        resumed = reply_to(server, lambda: server.push_command(ALICE, "resume"))
        assert last_part(resumed).startswith("2 of 4")
        again = [m for m in server.sent_messages(ALICE)
                 if last_part(m.text or "").startswith("2 of 4")]
        assert len(again) == 2  # the answer's reply and /resume: no reply to the duplicate
        out = stop_command(proc)
        assert proc.returncode == 0, out
    finally:
        proc.kill()


def test_debug_logs_carry_neither_token_nor_user_text(threaded_server: FakeTelegramAPI,
                                                      tmp_path: Path) -> None:
    server, secret_text = threaded_server, "my-partner-secret-7f3a"
    # A reverse proxy's error page that echoes the request path, token included. PTB logs a
    # body it cannot parse (with a traceback), so the token reaches the log handlers and only
    # the redaction installed by `coach telegram` keeps it out of the output.
    page = "<html><h1>502 Bad Gateway</h1><p>upstream failed: POST {path}</p></html>"
    server.inject_raw_error("getUpdates", 502, page)
    server.inject_raw_error("sendMessage", 502, page)
    proc = start_command(command_env(server, tmp_path / "d.db"), "--log-level", "DEBUG")
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        to_the_first_question(server)  # the failed poll and send are retried
        assert last_part(reply_to(server, lambda: server.push_message(ALICE, secret_text))
                         ).startswith("2 of 4")
        server.push_message(ALICE, "/export")
        server.wait_for_sync("sendDocument", timeout=WAIT)
        out = stop_command(proc)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "event=answer" in out and "DEBUG" in out  # it did log, at DEBUG
    assert server.calls_to("getUpdates")[0].status == 502
    assert out.count("Can not load invalid JSON data") == 2  # both pages reached the logs
    assert "upstream failed: POST /bot<redacted>/getUpdates" in out
    assert "upstream failed: POST /bot<redacted>/sendMessage" in out
    assert TOKEN not in out and TOKEN.split(":")[1] not in out
    assert secret_text not in out
    assert "event=handler_error" not in out and "Unclosed" not in out


def test_a_rejected_token_is_one_line_without_the_token(threaded_server: FakeTelegramAPI,
                                                        tmp_path: Path) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken123"
    done = subprocess.run([sys.executable, "-m", "bot", "--log-level", "DEBUG", "telegram"],
                          cwd=REPO, env=command_env(threaded_server, tmp_path / "r.db", wrong),
                          capture_output=True, text=True, timeout=WAIT)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert done.stderr.strip().splitlines()[-1] == (
        "coach: Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); check it with "
        "@BotFather")  # and nothing after it: no "Unclosed client session"
    assert wrong not in output and wrong.split(":")[1] not in output
    assert "Traceback" not in output and "Unclosed" not in output


def test_an_unreachable_api_is_one_line_and_closes_its_sessions(tmp_path: Path) -> None:
    env = command_env(None, tmp_path / "u.db")
    env["TELEGRAM_API_BASE_URL"] = f"http://127.0.0.1:{free_port()}/bot"  # nobody listens
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=WAIT)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("coach: could not start the Telegram bot: NetworkError"), line
    assert TOKEN not in output and "Unclosed" not in output and "Traceback" not in output


async def test_a_store_without_files_gets_a_ledger_that_keeps_nothing(
        server: FakeTelegramAPI) -> None:
    """The memory store forgets every session at a restart: its bot keeps no ledger file
    either, and still answers."""
    coach = Coach(FLOWS, MemoryStore())
    bot = TelegramBot(coach, TelegramConfig(token=TOKEN, base_url=server.base_url,
                                            poll_timeout=1, pacing=FAST))
    await bot.start()
    try:
        assert coach.data_folder() is None and not bot.ledger.is_open
        server.push_command(ALICE, "help")
        await server.wait_until(lambda: bool(server.sent_messages(ALICE)))
    finally:
        await bot.stop()
        await coach.close()
    assert not bot.started


def test_a_second_poller_of_the_same_bot_is_refused(threaded_server: FakeTelegramAPI,
                                                    tmp_path: Path) -> None:
    """Telegram allows one getUpdates at a time: a second process polling the same bot on
    the same store says so in one line and stops, and the first goes on."""
    server, store = threaded_server, tmp_path / "p.db"
    first = start_command(command_env(server, store))
    try:
        server.wait_for_sync("getUpdates", include_pending=True, timeout=WAIT)
        second = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=REPO,
                                env=command_env(server, store), capture_output=True, text=True,
                                timeout=WAIT)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1].endswith(
            "another coach process is already polling this bot, and Telegram allows only "
            "one; to run several processes, give each --webhook-url")
        assert "Traceback" not in second.stderr + second.stdout
        to_the_first_question(server)  # the first one still answers
        out = stop_command(first)
        assert first.returncode == 0, out
    finally:
        first.kill()


async def test_an_invite_carries_a_deep_link_that_joins_the_partner(tg: Harness) -> None:
    """Couple mode: the core gives the code, the adapter the link t.me/<bot>?start=pair-CODE;
    the partner's tap arrives as /start pair-CODE and leads, after the age question, to the
    invite (told the name the inviter chose)."""
    await tg.begin(ALICE)
    await tg.send(ALICE, "/invite")
    await tg.press(ALICE, "Invite my partner")
    made = "\n".join(texts(await tg.send(ALICE, "Robin")))
    prefix = f"https://t.me/{tg.server.bot_user['username']}?start=pair-"
    assert prefix in made
    code = made.split(prefix, 1)[1].split()[0]
    assert f"/pair {code}" in made, "the code works typed too (Discord, the console)"
    welcome = await tg.send(BOB, f"/start pair-{code}")
    assert "18 or older" in "\n".join(texts(welcome))
    invited = await tg.press(BOB, labels(welcome[-1])[0])
    assert "Robin invited you" in "\n".join(texts(invited))
    await tg.press(BOB, "Go on")
    joined = await tg.press(BOB, "Yes, I feel safe")
    assert "You're in" in "\n".join(texts(joined))
