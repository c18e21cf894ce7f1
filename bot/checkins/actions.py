"""What the check-in flows (flows/checkins.yaml) may ask for: read a typed time or
timezone, schedule or stop a check-in, set quiet hours, mark a week, list them, show the
weeks. The wording is in the flows and in flows/coach/checkins.yaml.

Why a context clock: "today", "tomorrow" and "already passed" are the core's `now` (a
simulated clock in tests), never the machine's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.checkins.progress import weeks_table
from bot.checkins.record import KINDS, OURS, TALK, WEEKLY, CheckinBook, hour_minute
from bot.checkins.schedule import (
    clock,
    clock_in_quiet,
    local,
    once,
    parse_quiet,
    parse_time,
    parse_zone,
    week_of,
    weekly,
)
from bot.checkins.texts import SERVICE, CheckinTexts
from bot.flowlang.registry import Registry

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

entries = Registry()
PICTURE = "checkin_picture"  # the effect that asks the core to attach the weeks' picture
KIND_SLOT, DAY_SLOT, WEEKDAY_SLOT = "ci_kind", "ci_day", "ci_weekday"
TIME_SLOT, ZONE_SLOT, WHEN_SLOT = "ci_time", "ci_zone", "ci_when"
MARKS = ("kept", "partly", "not_yet")
PARTNER_TOPIC_SLOT, PARTNER_TOPIC = "ci_topic", "partner_topic"


def texts_of(ctx: StepContext) -> CheckinTexts | None:
    texts = ctx.services.get(SERVICE)
    return texts if isinstance(texts, CheckinTexts) else None


def book_of(ctx: StepContext) -> CheckinBook:
    texts = texts_of(ctx)
    return CheckinBook(ctx.session, texts.default_quiet if texts else None)


def _int_slot(ctx: StepContext, slot: str, low: int, high: int) -> int | None:
    value = ctx.session.slots.get(slot, "")
    return int(value) if value.isdigit() and low <= int(value) <= high else None


def _picked(ctx: StepContext) -> tuple[str, float, tuple[int, int], int | None] | None:
    """(kind, when due, local time, weekday) from the answers, or None if one is missing."""
    book, slots = book_of(ctx), ctx.session.slots
    kind = slots.get(KIND_SLOT)
    hm = parse_time(slots.get(TIME_SLOT, ""))
    zone_name = book.zone or parse_zone(slots.get(ZONE_SLOT, ""))
    if kind not in KINDS or hm is None or zone_name is None:
        return None
    if kind == TALK:
        days = _int_slot(ctx, DAY_SLOT, 0, 14)
        return None if days is None else (kind, once(ctx.now, days, hm, zone_name), hm, None)
    weekday = _int_slot(ctx, WEEKDAY_SLOT, 0, 6)
    if weekday is None:
        return None
    return kind, weekly(ctx.now, weekday, hm, zone_name), hm, weekday


def describe(texts: CheckinTexts, item: dict[str, Any], zone_name: str) -> str:
    """How a scheduled check-in reads: "every Sunday at 18:00 (Europe/London)"."""
    moment = local(item["due"], item.get("zone") or zone_name)
    time_text, where = clock(hour_minute(item)), item.get("zone") or zone_name
    if item.get("weekday") is not None:
        return texts.get("when_weekly", weekday=texts.weekdays[item["weekday"]],
                         time=time_text, zone=where)
    return texts.get("when_once", weekday=texts.weekdays[moment.weekday()],
                     date=moment.date().isoformat(), time=time_text, zone=where)


# -- conditions -------------------------------------------------------------------------------


@entries.condition("checkin_time_ok", "slot", "the slot holds a time of day I can read")
def time_ok(ctx: StepContext, slot: str) -> bool:
    return parse_time(ctx.session.slots.get(slot, "")) is not None


@entries.condition("checkin_zone_ok", "slot", "the slot holds a timezone I know")
def zone_ok(ctx: StepContext, slot: str) -> bool:
    return parse_zone(ctx.session.slots.get(slot, "")) is not None


@entries.condition("checkin_zone_known", "none", "the person's timezone is already set")
def zone_known(ctx: StepContext, _: Any) -> bool:
    return book_of(ctx).zone is not None


@entries.condition("checkin_time_quiet", "none", "the time picked is in their quiet hours")
def time_quiet(ctx: StepContext, _: Any) -> bool:
    hm = parse_time(ctx.session.slots.get(TIME_SLOT, ""))
    return hm is not None and clock_in_quiet(hm, book_of(ctx).quiet)


@entries.condition("checkin_time_past", "none", "the one-off time picked has passed")
def time_past(ctx: StepContext, _: Any) -> bool:
    picked = _picked(ctx)
    return picked is not None and picked[1] <= ctx.now


@entries.condition("checkins_set", "text", "that check-in is set: talk, weekly, ours or any")
def checkins_set(ctx: StepContext, kind: str) -> bool:
    return book_of(ctx).scheduled(None if kind == "any" else kind)


@entries.condition("has_commitments", "none", "a commitment is written (transparency)")
def has_commitments(ctx: StepContext, _: Any) -> bool:
    texts = texts_of(ctx)
    return texts is not None and any(ctx.session.slots.get(s) for s in texts.commitments)


@entries.condition("checkin_weeks", "none", "a weekly check-in has been answered")
def has_weeks(ctx: StepContext, _: Any) -> bool:
    return any(book_of(ctx).weeks.values())


# -- actions ----------------------------------------------------------------------------------


@entries.action("checkin_schedule", "none", "schedules the check-in picked", writes=(WHEN_SLOT,))
def schedule(ctx: StepContext, _: Any) -> None:
    picked, texts = _picked(ctx), texts_of(ctx)
    if picked is None or texts is None:
        return
    book = book_of(ctx)
    if book.zone is None:
        book.set_zone(parse_zone(ctx.session.slots.get(ZONE_SLOT, "")) or "UTC", ctx.now)
    kind, due, hm, weekday = picked
    book.schedule(kind, due, hm, weekday)
    ctx.session.slots[WHEN_SLOT] = describe(texts, book.items[kind], book.zone or "UTC")


@entries.action("checkin_zone", "slot", "moves every check-in to the timezone in the slot")
def set_zone(ctx: StepContext, slot: str) -> None:
    name = parse_zone(ctx.session.slots.get(slot, ""))
    if name is not None:
        book_of(ctx).set_zone(name, ctx.now)


@entries.action("checkin_quiet", "slot", "sets quiet hours from the slot (21:00-08:00, off)")
def set_quiet(ctx: StepContext, slot: str) -> None:
    quiet = parse_quiet(ctx.session.slots.get(slot, ""))
    if quiet != "":
        book_of(ctx).quiet = quiet if isinstance(quiet, tuple) else None


@entries.action("checkin_stop", "text", "stops check-ins: talk, weekly, ours or all")
def stop(ctx: StepContext, kind: str) -> None:
    book_of(ctx).stop(None if kind == "all" else kind)


@entries.action("checkin_mark", "slot_values", "marks this week for a commitment: kept, "
                "partly, not_yet")
def mark(ctx: StepContext, marks: dict[str, str]) -> None:
    book = book_of(ctx)
    week = book.data.get("week") or week_of(ctx.now, book.zone or "UTC")
    for slot, value in marks.items():
        if value in MARKS:
            book.mark(slot, week, value)


@entries.action("checkin_partner_topic", "none", "the topic a partner is ready to compare, "
                f"as its title, in {PARTNER_TOPIC_SLOT} (set by the core when the note is sent)",
                writes=(PARTNER_TOPIC_SLOT,))
def partner_topic(ctx: StepContext, _: Any) -> None:
    ctx.session.slots[PARTNER_TOPIC_SLOT] = str(ctx.session.checkins.pop(PARTNER_TOPIC, ""))


@entries.action("show_checkins", "none", "lists the check-ins set and the quiet hours")
def show(ctx: StepContext, _: Any) -> None:
    texts = texts_of(ctx)
    if texts is not None:
        ctx.say(checkins_text(book_of(ctx), texts))


@entries.action("show_progress", "none", "the weeks kept, as text and a picture")
def show_progress(ctx: StepContext, _: Any) -> None:
    texts = texts_of(ctx)
    if texts is None:
        return
    book = book_of(ctx)
    labels = weeks_table(book.weeks, texts)[0]
    if labels:
        ctx.say(texts.get("picture_legend", rows=", ".join(labels)))
        ctx.request(PICTURE)
    else:
        ctx.say(texts.get("progress_none"))


def checkins_text(book: CheckinBook, texts: CheckinTexts) -> str:
    """The check-ins set, then the quiet hours: for /checkins and /export."""
    zone_name = book.zone or "UTC"
    lines = []
    for kind, text_id in ((TALK, "list_talk"), (WEEKLY, "list_weekly"), (OURS, "list_ours")):
        if book.scheduled(kind):
            lines.append(texts.get(text_id, when=describe(texts, book.items[kind], zone_name)))
    lines = [texts.get("list_title"), *lines] if lines else [texts.get("list_none")]
    quiet = book.quiet
    lines.append(texts.get("quiet", start=clock(divmod(quiet[0], 60)),
                           end=clock(divmod(quiet[1], 60))) if quiet
                 else texts.get("quiet_none"))
    return "\n".join(lines)
