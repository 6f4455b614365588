"""Events and deadlines against a real Synapse and the real bot process: announcements with the
date in words, refusals that store nothing, RSVPs by reaction, reminders that arrive once (even
across a SIGKILL, one message for those due together) and never after a cancellation, an event
and a deadline moved to a new date and reminded there, and the agenda as an .ics file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import nio
from icalendar import Calendar
from matrix_people import text

PARIS = ZoneInfo("Europe/Paris")  # the rooms' default timezone
REMINDER_WAIT = 120  # a "dans 2 minutes" event with "rappels: 1min" reminds about 60 s later


def notice_from(user_id: str, contains: str | None = None):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return (
            event.get("sender") == user_id
            and content.get("msgtype") == "m.notice"
            and (contains is None or contains in str(content.get("body", "")))
        )

    return match


def stored(bot: Any, table: str) -> list[tuple]:
    """Rows of one table, read from the bot's own SQLite database (read-only)."""
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return list(connection.execute(f"SELECT * FROM {table}"))


async def add_member(organiser, make_person, room_id: str, name: str):
    member = await make_person(name)
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)
    return member


async def test_events_announce_refuse_and_count_rsvps(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await add_member(organiser, make_person, room_id, "membre")

    for command, expected in [
        ("!événement Réunion ; 1/1/2020 10h", "est déjà passé"),
        ("!événement Réunion", "Indiquez un titre et une date"),
        ("!événement Réunion ; demain ; salle: B", "lieu (place), lien (link)"),
    ]:
        asked = await organiser.send_text(room_id, command)
        reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
        assert expected in reply["content"]["body"]
    asked = await member.send_text(room_id, "!événement Réunion ; demain 18h")
    reply = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Seuls les organisateurs" in reply["content"]["body"]
    assert stored(bot, "agenda_item") == []
    reminders = [row for row in stored(bot, "scheduled_task") if "reminder" in row[2]]
    assert reminders == []  # (the digest and the daily purge have their own tasks)

    asked = await organiser.send_text(
        room_id, "!événement Journée numérique ; 11 mai 2027 9h30 ; lieu: MAME Tours"
    )
    announcement = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    body = announcement["content"]["body"]
    assert "Événement E" in body and "Journée numérique" in body
    assert "Quand : mardi 11 mai 2027 à 09:30 (Europe/Paris)" in body
    assert "Lieu : MAME Tours" in body and "Rappels : 7j, 1j, 1h" in body
    assert announcement["content"]["m.mentions"] == {}
    event_id = announcement["event_id"]
    (row,) = stored(bot, "agenda_item")
    label = f"E{row[0]}"
    assert f"Événement {label} :" in body

    going = await member.react(room_id, event_id, "✅")
    await organiser.react(room_id, event_id, "🤔")
    await organiser.react(room_id, event_id, "❌️")  # with U+FE0F; the latest answer counts
    asked = await member.send_text(room_id, "!agenda")
    agenda = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert (
        f"{label} — Journée numérique — mardi 11 mai 2027 à 09:30 (Europe/Paris)"
        in (agenda["content"]["body"])
    )
    assert "✅ 1 · 🤔 0 · ❌ 1" in agenda["content"]["body"]

    await member.redact(room_id, going)
    asked = await member.send_text(room_id, "!upcoming")
    agenda = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "✅ 0 · 🤔 0 · ❌ 1" in agenda["content"]["body"]


async def test_events_agenda_ics_is_a_downloadable_calendar(bot_room):
    bot, organiser, room_id = bot_room
    asked = await organiser.send_text(room_id, "!échéance Dépôt ; contributions ; 30/06/2027 23h59")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Champ" in reply["content"]["body"] or "compris" in reply["content"]["body"]
    asked = await organiser.send_text(
        room_id, "!échéance Dépôt des contributions, avis ; 30/06/2027 23h59 ; rappels: 7j"
    )
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Échéance D" in reply["content"]["body"]
    assert "mercredi 30 juin 2027 à 23:59 (Europe/Paris)" in reply["content"]["body"]

    asked = await organiser.send_text(room_id, "!agenda ics")

    def is_file(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot.user_id and content.get("msgtype") == "m.file"

    message = await organiser.wait_for(room_id, is_file, after=asked)
    content = message["content"]
    assert content["info"]["mimetype"] == "text/calendar"
    assert content["body"].endswith(".ics")
    downloaded = await organiser.client.download(content["url"])
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    calendar = Calendar.from_ical(downloaded.body)
    (deadline,) = calendar.walk("VEVENT")
    assert str(deadline["summary"]) == "Dépôt des contributions, avis"
    assert str(deadline["uid"]).startswith("deadline-D") and str(deadline["uid"]).endswith(
        "@concerto"
    )
    assert str(deadline["dtstart"].params["TZID"]) == "Europe/Paris"
    assert calendar.walk("VTIMEZONE")


async def test_events_reminder_survives_a_kill_arrives_once_and_not_when_cancelled(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    member = await add_member(organiser, make_person, room_id, "participant")

    asked = await organiser.send_text(room_id, "!événement Annulé ; dans 2 minutes ; rappels: 1min")
    cancelled = await organiser.wait_for(room_id, notice_from(bot.user_id, "Annulé"), after=asked)
    label = cancelled["content"]["body"].split("Événement ", 1)[1].split(" ", 1)[0]
    asked = await organiser.send_text(room_id, f"!annuler {label}")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "est annulé" in reply["content"]["body"]

    # An event and a deadline at the same second: their reminders fall due together.
    at = (datetime.now(UTC) + timedelta(minutes=2)).astimezone(PARIS)
    when = at.strftime("%d/%m/%Y %H:%M:%S")
    asked = await organiser.send_text(
        room_id, f"!événement Point d'étape ; {when} ; lieu: Salle B ; rappels: 1min"
    )
    announcement = await organiser.wait_for(
        room_id, notice_from(bot.user_id, "Point d'étape"), after=asked
    )
    assert "Rappels : 1min" in announcement["content"]["body"]
    await member.react(room_id, announcement["event_id"], "✅")
    asked = await organiser.send_text(room_id, f"!échéance Rendu ; {when} ; rappels: 1min")
    await organiser.wait_for(room_id, notice_from(bot.user_id, "Rendu"), after=asked)

    await bot.kill()
    bot.start()

    def reminder(title: str):
        def match(event: dict) -> bool:
            content = event.get("content") or {}
            return (
                event.get("sender") == bot.user_id
                and content.get("msgtype") == "m.text"
                and f"« {title} »" in str(content.get("body", ""))
            )

        return match

    sent = await member.wait_for(
        room_id, reminder("Point d'étape"), timeout=REMINDER_WAIT, after=announcement["event_id"]
    )
    content = sent["content"]
    assert content["body"].startswith("2 rappels :")  # one message for both
    assert "commence dans 1 minute" in content["body"]
    assert "Lieu : Salle B" in content["body"]
    assert "il reste 1 minute avant l'échéance « Rendu »" in content["body"]
    assert content["m.mentions"] == {"user_ids": [member.user_id]}
    assert "retard" not in content["body"]
    await member.assert_no_event(room_id, reminder("Point d'étape"), after=sent["event_id"])
    await member.assert_no_event(room_id, reminder("Annulé"), after=asked)
    await member.assert_no_event(room_id, reminder("Rendu"), after=sent["event_id"])
    reminders = [e for e in member.events(room_id) if reminder("Point d'étape")(e)]
    assert len(reminders) == 1
    assert text(sender=bot.user_id)(sent)


async def test_an_event_and_a_deadline_moved_are_reminded_at_their_new_date_only(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    member = await add_member(organiser, make_person, room_id, "inscrite")
    asked = await organiser.send_text(room_id, "!événement Atelier ; dans 3 heures ; rappels: 1min")
    announcement = await organiser.wait_for(
        room_id, notice_from(bot.user_id, "Atelier"), after=asked
    )
    event = announcement["content"]["body"].split("Événement ", 1)[1].split(" ", 1)[0]
    await member.react(room_id, announcement["event_id"], "✅")
    asked = await organiser.send_text(room_id, "!échéance Dépôt ; dans 3 heures ; rappels: 1min")
    declared = await organiser.wait_for(room_id, notice_from(bot.user_id, "Dépôt"), after=asked)
    deadline = declared["content"]["body"].split("Échéance ", 1)[1].split(" ", 1)[0]

    # both brought forward to the same second: their reminders fall due together
    at = (datetime.now(UTC) + timedelta(minutes=2)).astimezone(PARIS)
    when = at.strftime("%d/%m/%Y %H:%M:%S")
    for label, kind in ((event, "l'événement"), (deadline, "l'échéance")):
        asked = await organiser.send_text(room_id, f"!déplacer {label} ; {when}")
        moved = await member.wait_for(room_id, notice_from(bot.user_id, label), after=asked)
        assert moved["content"]["body"].startswith(f"Nouvelle date pour {kind} {label}")
        assert f"{at:%H:%M}" in moved["content"]["body"]
    await bot.kill()  # the new reminders are in the database, not only in memory
    bot.start()

    def reminder(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == bot.user_id and content.get("msgtype") == "m.text"

    sent = await member.wait_for(room_id, reminder, timeout=REMINDER_WAIT, after=asked)
    body = sent["content"]["body"]
    assert body.startswith("2 rappels :"), body
    assert f"« Atelier » ({event}) commence dans 1 minute" in body
    assert f"il reste 1 minute avant l'échéance « Dépôt » ({deadline})" in body
    assert sent["content"]["m.mentions"] == {"user_ids": [member.user_id]}  # her ✅ stands
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        tasks = dict(connection.execute("SELECT key, status FROM scheduled_task"))
    # the reminders of the old date were dropped, those of the new one (named by it) sent
    stamp = f":{at.astimezone(UTC):%Y%m%dT%H%M}:"
    for label in (event, deadline):
        mine = {k: v for k, v in tasks.items() if k.startswith(f"reminder:{label}:")}
        assert sorted((stamp in key, status) for key, status in mine.items()) == [
            (False, "cancelled"),
            (True, "done"),
        ], mine


async def test_malformed_event_is_answered_with_what_was_wrong_and_the_usage(bot_room):
    bot, organiser, room_id = bot_room
    for command, wrong in [
        ("!événement Réunion sans date", "Indiquez un titre et une date"),
        ("!echeance Dépôt ; 31 février", "31 février"),
    ]:
        asked = await organiser.send_text(room_id, command)
        reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
        body = reply["content"]["body"]
        assert wrong in body, body
        name = "événement" if "événement" in command else "échéance"
        assert f"Utilisation : !{name} <titre> ; <quand>" in body, body
    assert stored(bot, "agenda_item") == []
