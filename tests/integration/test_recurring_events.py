"""Recurring events against a real Synapse and the real bot process: a weekly series whose
meeting is a few minutes ahead is reminded once, a cancelled meeting is not reminded, a moved
one is reminded at its new time, answers count per meeting, and the series' timer survives a
SIGKILL between two reminders (re-armed for the next week)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import nio
import recurring_ical_events
from icalendar import Calendar
from test_events import add_member, notice_from

from bot.text.dates import format_when

PARIS = ZoneInfo("Europe/Paris")  # the rooms' default timezone
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
REMINDER_WAIT = 300


def query(bot: Any, sql: str) -> list[tuple]:
    """Rows from the bot's own SQLite database (read-only)."""
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return list(connection.execute(sql))


def reminder(bot: Any, title: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return (
            event.get("sender") == bot.user_id
            and content.get("msgtype") == "m.text"
            and f"« {title} »" in str(content.get("body", ""))
        )

    return match


def label_of(announcement: dict) -> str:
    return announcement["content"]["body"].split("Événement ", 1)[1].split(" ", 1)[0]


async def test_weekly_series_reminded_once_cancelled_and_moved_meetings_rsvp_and_sigkill(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    member = await add_member(organiser, make_person, room_id, "participante")

    async def command(text: str, contains: str) -> dict:
        asked = await organiser.send_text(room_id, text)
        return await organiser.wait_for(room_id, notice_from(bot.user_id, contains), after=asked)

    # this week's meeting a few whole minutes ahead; its 1-minute reminder comes 2-3 min from now
    meeting = (datetime.now(UTC) + timedelta(minutes=4)).astimezone(PARIS)
    meeting = meeting.replace(second=0, microsecond=0)
    rule = f"tous les {WEEKDAYS[meeting.weekday()]}s à {meeting:%H:%M}"
    day = f"{meeting:%d/%m/%Y}"

    cancelled = await command(f"!événement Annulée ; {rule} ; rappels: 1min", "Annulée")
    assert "Se répète : tous les" in cancelled["content"]["body"]
    reply = await command(f"!annuler {label_of(cancelled)} le {day}", "est annulée")
    assert "La série continue" in reply["content"]["body"]

    later = meeting + timedelta(hours=2)
    moved = await command(
        f"!événement Déplacée ; tous les {WEEKDAYS[later.weekday()]}s à {later:%H:%M} ; "
        "rappels: 1min",
        "Déplacée",
    )
    new_time = meeting + timedelta(minutes=2)
    move = await command(
        f"!déplacer {label_of(moved)} le {later:%d/%m/%Y} ; {new_time:%d/%m/%Y %H:%M}",
        "est déplacée",
    )
    assert f"{new_time:%H:%M} (Europe/Paris)" in move["content"]["body"]
    await member.react(room_id, move["event_id"], "✅")  # for the moved meeting only

    weekly = await command(f"!événement Réunion hebdo ; {rule} ; rappels: 1min", "Réunion hebdo")
    weekly_label = label_of(weekly)
    await member.react(room_id, weekly["event_id"], "✅")  # the announcement: the first meeting

    sent = await member.wait_for(
        room_id, reminder(bot, "Réunion hebdo"), timeout=REMINDER_WAIT, after=weekly["event_id"]
    )
    body = sent["content"]["body"]
    assert "commence dans 1 minute" in body and f"à {meeting:%H:%M}" in body
    assert "Annulée" not in body  # the cancelled meeting at the same time is not reminded
    assert "Cette réunion se répète" in body
    assert sent["content"]["m.mentions"] == {"user_ids": [member.user_id]}
    maybe = await member.react(room_id, sent["event_id"], "🤔")  # answers for this meeting
    await member.wait_for(room_id, lambda e: e.get("event_id") == maybe)

    # killed between two reminders of the series: the next one is re-armed for next week
    await bot.kill()
    bot.start()

    moved_sent = await member.wait_for(
        room_id, reminder(bot, "Déplacée"), timeout=REMINDER_WAIT, after=weekly["event_id"]
    )
    assert f"à {new_time:%H:%M}" in moved_sent["content"]["body"]
    assert moved_sent["content"]["m.mentions"] == {"user_ids": [member.user_id]}

    await member.assert_no_event(room_id, reminder(bot, "Réunion hebdo"), after=sent["event_id"])
    await member.assert_no_event(room_id, reminder(bot, "Annulée"), after=cancelled["event_id"])
    assert len([e for e in member.events(room_id) if reminder(bot, "Réunion hebdo")(e)]) == 1

    number = int(weekly_label[1:])
    next_week = (meeting + timedelta(days=7)).astimezone(UTC)
    pending = query(
        bot,
        "SELECT key FROM scheduled_task WHERE status = 'pending' "
        f"AND key LIKE 'reminder:{weekly_label}:%'",
    )
    assert pending == [(f"reminder:{weekly_label}:{next_week:%Y%m%dT%H%M}:1m",)]
    answers = query(
        bot, f"SELECT answer, occurs_at FROM event_rsvp WHERE item_id = {number} ORDER BY id"
    )
    this_week = meeting.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert [(answer, str(when)[:16]) for answer, when in answers] == [
        ("going", this_week),
        ("maybe", this_week),
    ]

    asked = await member.send_text(room_id, "!agenda")
    agenda = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    lines = agenda["content"]["body"].splitlines()
    (weekly_line,) = [line for line in lines if "Réunion hebdo" in line]
    assert "(se répète : tous les" in weekly_line
    assert "✅ 0 · 🤔 0 · ❌ 0" in weekly_line  # next week's meeting: nobody answered yet


async def test_series_calendar_file_gives_the_bots_meetings(bot_room):
    """`!agenda ics` downloaded from the homeserver: an independent expander
    (recurring-ical-events) finds the meetings the bot keeps, the cancelled one left out and the
    moved one at its new time."""
    bot, organiser, room_id = bot_room

    async def command(text: str, contains: str) -> dict:
        asked = await organiser.send_text(room_id, text)
        return await organiser.wait_for(room_id, notice_from(bot.user_id, contains), after=asked)

    announced = await command(
        "!événement Plénière ; le premier jeudi du mois à 14h ; 6 fois ; fin: 16h", "Plénière"
    )
    label = label_of(announced)
    now = datetime.now(UTC)
    meetings = _first_thursdays(now, 6)
    await command(f"!annuler {label} le {meetings[1]:%d/%m/%Y}", "est annulée")
    moved_to = meetings[2].replace(hour=17)
    await command(
        f"!déplacer {label} le {meetings[2]:%d/%m/%Y} ; {moved_to:%d/%m/%Y %H:%M}", "est déplacée"
    )
    asked = await organiser.send_text(room_id, "!agenda ics")

    def is_file(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot.user_id and content.get("msgtype") == "m.file"

    message = await organiser.wait_for(room_id, is_file, after=asked)
    downloaded = await organiser.client.download(message["content"]["url"])
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    calendar = Calendar.from_ical(downloaded.body)
    expanded = sorted(
        event.decoded("dtstart").astimezone(PARIS)
        for event in recurring_ical_events.of(calendar).between(now, now + timedelta(days=400))
    )
    expected = sorted([meetings[0], moved_to, *meetings[3:]])
    assert expanded == expected
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]


def _first_thursdays(now: datetime, count: int) -> list[datetime]:
    """The next ``count`` first Thursdays of the month at 14:00 in Paris, after ``now``."""
    local = now.astimezone(PARIS)
    found: list[datetime] = []
    year, month = local.year, local.month
    while len(found) < count:
        day = datetime(year, month, 1, 14, 0, tzinfo=PARIS)
        day += timedelta(days=(3 - day.weekday()) % 7)
        if day > local:
            found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


async def test_published_digest_lists_the_coming_weeks_meetings(bot_room):
    bot, organiser, room_id = bot_room

    async def command(text: str, contains: str) -> dict:
        asked = await organiser.send_text(room_id, text)
        return await organiser.wait_for(room_id, notice_from(bot.user_id, contains), after=asked)

    announced = await command(
        "!événement Point ; tous les jours ouvrés à 9h ; rappels: aucun", "Point"
    )
    label = label_of(announced)
    now = datetime.now(UTC)
    week = []
    day = now.astimezone(PARIS).date()
    while len(week) < 8:
        moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=PARIS)
        if day.weekday() < 5 and now < moment < now + timedelta(days=7):
            week.append(moment)
        day += timedelta(days=1)
        if moment > now + timedelta(days=8):
            break
    cancelled = week[1]
    await command(f"!annuler {label} le {cancelled:%d/%m/%Y}", "est annulée")
    posted = await command("!résumé publier", "Résumé hebdomadaire — semaine")
    body = posted["content"]["body"]
    for moment in week:
        line = f"• {label} Point — {format_when(moment, tz=PARIS, language='fr')}"
        assert (line in body) is (moment != cancelled), (line, body)
    assert body.count(f"• {label} Point") == len(week) - 1


def _weekday_mornings(now: datetime) -> list[datetime]:
    """Monday to Friday at 09:00 in Paris, in the 7 days after ``now``."""
    today = now.astimezone(PARIS).date()
    mornings = []
    for offset in range(9):
        day = today + timedelta(days=offset)
        moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=PARIS)
        if day.weekday() < 5 and now < moment < now + timedelta(days=7):
            mornings.append(moment)
    return mornings
