"""`!événement`, `!échéance`, `!agenda`, `!annuler`, RSVP reactions and reminders, through the
real router and outbox with a recording sender and a frozen clock (Monday 15 June 2026, 10:00
in Paris)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import ROOM, Harness
from icalendar import Calendar
from sqlmodel import select

from bot.runtime.messages import MAX_EVENT_BYTES, content_bytes
from storage.agenda_models import AgendaItem, EventRsvp
from storage.models import ScheduledTask

ORGANISER = "@orga:test"
ANA = "@ana:test"
BEN = "@ben:test"


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


def rows(bot: Harness, model: Any) -> list[Any]:
    with bot.database.session() as session:
        return list(session.exec(select(model)))


def pending_tasks(bot: Harness) -> list[str]:
    return sorted(t.key for t in rows(bot, ScheduledTask) if t.status == "pending")


async def announce(bot: Harness, command: str) -> dict[str, Any]:
    event = bot.message(ORGANISER, command)
    sent = await bot.deliver(event)
    assert len(sent) == 1, sent
    return sent[0]


async def react(bot: Harness, sender: str, target: str, key: str) -> str:
    event = bot.reaction(sender, target, key)
    await bot.deliver(event)
    return event["event_id"]


async def test_events_announcement_repeats_date_place_id_reminders_and_rsvp_prompt(bot):
    sent = await announce(bot, "!événement Journée numérique ; 11 mai 9h30 ; lieu: MAME Tours")
    content = sent["content"]
    assert content["msgtype"] == "m.notice"
    assert content["m.mentions"] == {}
    body = content["body"]
    assert "Événement E1 : Journée numérique" in body
    assert "Quand : mardi 11 mai 2027 à 09:30 (Europe/Paris)" in body
    assert "Lieu : MAME Tours" in body
    assert "Rappels : 7j, 1j, 1h" in body
    assert "✅" in body and "🤔" in body and "❌" in body
    assert pending_tasks(bot) == ["reminder:E1:1d", "reminder:E1:1h", "reminder:E1:7d"]
    (item,) = rows(bot, AgendaItem)
    assert item.announcement_event_id == sent["event_id"]
    assert item.starts_at == datetime(2027, 5, 11, 7, 30, tzinfo=UTC)


async def test_events_english_keys_end_link_and_custom_reminders(bot):
    sent = await announce(
        bot,
        "!event Atelier ; demain 14h ; place: Tiers-lieu ; link: https://example.org/a?b=1&c ; "
        "end: 17h ; reminders: 2h, 30min",
    )
    body, html = sent["content"]["body"], sent["content"]["formatted_body"]
    assert "Jusqu'à : mardi 16 juin 2026 à 17:00 (Europe/Paris)" in body
    assert "Rappels : 2h, 30min" in body
    assert 'href="https://example.org/a?b=1&amp;c"' in html
    assert pending_tasks(bot) == ["reminder:E1:2h", "reminder:E1:30m"]


async def test_events_deadline_shows_countdown_and_default_reminders(bot):
    sent = await announce(bot, "!échéance Dépôt des contributions ; 30/06 23h59")
    body = sent["content"]["body"]
    assert "Échéance D1 : Dépôt des contributions" in body
    assert "mardi 30 juin 2026 à 23:59 (Europe/Paris)" in body
    assert "Temps restant : 15 jours et 13 heures" in body
    assert "Rappels : 14j, 7j, 3j, 1j" in body
    assert "✅" not in body


async def test_events_past_offsets_are_skipped_and_said(bot):
    sent = await announce(bot, "!événement Réunion ; demain 9h")
    body = sent["content"]["body"]
    assert "Rappels : 1h" in body
    assert "Déjà passés, non programmés : 7j, 1j" in body
    assert pending_tasks(bot) == ["reminder:E1:1h"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!événement Réunion ; 1/1/2020 10h", "passé"),
        ("!événement Réunion ; le 32 mai", "pas une date valide"),
        ("!événement Réunion ; blablabla", "Je n'ai pas compris la date"),
        ("!événement Réunion", "Indiquez un titre et une date"),
        ("!événement", "Indiquez un titre et une date"),
        ("!événement Réunion ; demain ; salle: B", "Champ inconnu : « salle »"),
        ("!événement Réunion ; demain ; B12", "Je n'ai pas compris le champ « B12 »"),
        ("!événement Réunion ; demain 10h ; fin: 9h", "doit venir après le début"),
        ("!événement Réunion ; demain ; rappels: 3 ans", "Je n'ai pas compris le rappel"),
        ("!échéance Dépôt ; demain ; lieu: ici", "Champ inconnu : « lieu »"),
    ],
)
async def test_events_bad_input_gets_a_precise_reply_and_stores_nothing(bot, command, expected):
    bodies = await bot.say(ORGANISER, command)
    assert len(bodies) == 1 and expected in bodies[0], bodies
    assert rows(bot, AgendaItem) == []
    assert rows(bot, ScheduledTask) == []


async def test_events_members_cannot_announce(bot):
    bodies = await bot.say(ANA, "!événement Réunion ; demain 18h")
    assert "Seuls les organisateurs" in bodies[0]
    assert rows(bot, AgendaItem) == []


async def test_events_rsvp_latest_answer_counts_and_removal_removes_it(bot):
    sent = await announce(bot, "!événement Réunion ; demain 18h")
    announcement = sent["event_id"]
    await react(bot, ANA, announcement, "✅")
    await react(bot, BEN, announcement, "🤔")
    changed = await react(bot, BEN, announcement, "❌\ufe0f")
    await react(bot, BEN, announcement, "👍")  # not an RSVP
    bodies = await bot.say(ANA, "!agenda")
    assert (
        "E1 — Réunion — mardi 16 juin 2026 à 18:00 (Europe/Paris) — ✅ 1 · 🤔 0 · ❌ 1"
        in (bodies[0])
    )
    # Ben removes ❌: his 🤔 reaction is still on the message, so it counts again.
    await bot.deliver(bot.redaction(BEN, changed))
    assert "✅ 1 · 🤔 1 · ❌ 0" in (await bot.say(ANA, "!agenda"))[0]
    assert len(rows(bot, EventRsvp)) == 2


async def test_events_event_reminder_pings_those_going_exactly_once(bot, clock):
    sent = await announce(bot, "!événement Réunion ; demain 18h ; lieu: Salle B ; rappels: 1h")
    await react(bot, ANA, sent["event_id"], "✅")
    await react(bot, BEN, sent["event_id"], "❌")
    clock.set(datetime(2026, 6, 16, 15, 0, tzinfo=UTC))  # 17:00 in Paris
    assert await bot.timers.fire_due() == 1
    assert await bot.timers.fire_due() == 0
    await bot.outbox.send_due()
    (reminder,) = [s for s in bot.sender.sent if s["content"].get("msgtype") == "m.text"]
    content = reminder["content"]
    assert content["m.mentions"] == {"user_ids": [ANA]}
    assert "Rappel : « Réunion » (E1) commence dans 1 heure" in content["body"]
    assert "Lieu : Salle B" in content["body"]
    assert "1 personne vient : Ana" in content["body"]
    assert "retard" not in content["body"]
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": sent["event_id"]}}
    assert 'href="https://matrix.to/#/@ana:test"' in content["formatted_body"]


async def test_events_deadline_reminder_pings_nobody_and_says_time_left(bot, clock):
    await announce(bot, "!échéance Dépôt ; 30/06 23h59 ; rappels: 1j")
    clock.set(datetime(2026, 6, 29, 21, 59, tzinfo=UTC))
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    reminder = bot.sender.sent[-1]["content"]
    assert reminder["msgtype"] == "m.text"
    assert reminder["m.mentions"] == {}
    assert "il reste 1 jour avant l'échéance « Dépôt » (D1)" in reminder["body"]


async def test_events_late_reminder_says_it_is_late(bot, clock):
    await announce(bot, "!échéance Dépôt ; 30/06 23h59 ; rappels: 1j")
    clock.set(datetime(2026, 6, 29, 22, 19, tzinfo=UTC))  # 20 minutes after it fell due
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    body = bot.sender.sent[-1]["content"]["body"]
    assert "il reste 23 heures et 40 minutes" in body
    assert "Envoyé avec 20 minutes de retard" in body


async def test_events_missed_reminder_is_described(bot):
    await announce(bot, "!événement Journée ; 11 mai 9h30 ; rappels: 1j")
    (task,) = rows(bot, ScheduledTask)
    line = bot.timers.kinds["event_reminder"].describe_missed(task, "fr")
    assert line == "rappel 1j avant E1 « Journée » (mardi 11 mai 2027 à 09:30 (Europe/Paris))"


async def test_events_cancel_stops_reminders_and_says_so(bot, clock):
    await announce(bot, "!événement Réunion ; demain 18h ; rappels: 1h")
    bodies = await bot.say(ORGANISER, "!annuler e1")
    assert bodies == [
        "L'événement E1 « Réunion » (mardi 16 juin 2026 à 18:00 (Europe/Paris)) est annulé ; "
        "ses rappels ne seront pas envoyés."
    ]
    assert pending_tasks(bot) == []
    clock.advance(timedelta(days=2))
    assert await bot.timers.fire_due() == 0
    assert "Rien de prévu" in (await bot.say(ANA, "!agenda"))[0]
    assert "déjà annulé" in (await bot.say(ORGANISER, "!cancel E1"))[0]


async def test_events_cancel_refusals(bot):
    await announce(bot, "!événement Réunion ; demain 18h")
    await announce(bot, "!échéance Dépôt ; 30/06 23h59")
    assert "Seuls les organisateurs ou la personne" in (await bot.say(ANA, "!annuler E1"))[0]
    unknown = (await bot.say(ORGANISER, "!annuler X3"))[0]
    assert "n'est pas un identifiant annulable" in unknown and "E1, D2" in unknown
    assert "Il n'y a pas de E9 dans ce salon" in (await bot.say(ORGANISER, "!annuler E9"))[0]
    assert "Il n'y a pas de D1" in (await bot.say(ORGANISER, "!annuler D1"))[0]
    assert "Indiquez l'identifiant" in (await bot.say(ORGANISER, "!annuler"))[0]
    # An ID from another room is not found here.
    other = bot.message(ORGANISER, "!annuler E1")
    sent = await bot.deliver(other, room_id="!other:test")
    assert "Il n'y a pas de E1 dans ce salon" in sent[0]["content"]["body"]
    assert pending_tasks(bot) != []


async def test_events_agenda_ics_uploads_a_valid_calendar(bot):
    await announce(bot, "!événement Atelier ; 11 mai 9h30 ; lieu: Tours ; fin: 12h")
    await announce(bot, "!échéance Dépôt ; 30/06 23h59")
    sent = await bot.deliver(bot.message(ANA, "!agenda ics"))
    upload = next(s for s in bot.sender.sent if s["type"] == "upload")
    assert upload["content_type"] == "text/calendar"
    (message,) = [s for s in sent if s["type"] == "m.room.message"]
    content = message["content"]
    assert content["msgtype"] == "m.file"
    assert content["url"] == "mxc://test/agenda.ics"
    assert content["info"] == {"mimetype": "text/calendar", "size": len(upload["data"])}
    calendar = Calendar.from_ical(upload["data"])
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"event-E1@concerto", "deadline-D2@concerto"}
    atelier = events["event-E1@concerto"]
    assert atelier.decoded("dtstart") == datetime(2027, 5, 11, 7, 30, tzinfo=UTC)
    assert str(atelier["dtstart"].params["TZID"]) == "Europe/Paris"
    assert str(atelier["location"]) == "Tours"
    assert "dtstamp" in atelier
    assert calendar.walk("VTIMEZONE")[0]["tzid"] == "Europe/Paris"


async def test_events_agenda_empty_and_unknown_option(bot):
    assert "Rien de prévu dans ce salon" in (await bot.say(ANA, "!agenda"))[0]
    assert "Rien de prévu" in (await bot.say(ANA, "!agenda ics"))[0]
    assert "Option inconnue" in (await bot.say(ANA, "!agenda demain"))[0]


@pytest.mark.parametrize("language", ["en"])
async def test_events_agenda_in_english_room(bot):
    sent = await announce(bot, "!event Digital day ; May 11 9:30am ; place: MAME")
    assert "Event E1: Digital day" in sent["content"]["body"]
    assert "Tuesday 11 May 2027 at 09:30 (Europe/Paris)" in sent["content"]["body"]
    bodies = await bot.say(ORGANISER, "!event Digital day")
    assert "!event Digital day ; May 11 9:30am" in bodies[0]


async def test_events_agenda_ics_in_an_encrypted_room_is_an_encrypted_attachment(bot):
    bot.sender.encrypted_rooms.add(ROOM)
    await announce(bot, "!échéance Dépôt ; 30/06 23h59")
    sent = await bot.deliver(bot.message(ANA, "!agenda ics"))
    (message,) = [s for s in sent if s["type"] == "m.room.message"]
    assert "url" not in message["content"]
    assert message["content"]["file"]["url"] == "mxc://test/agenda.ics"


async def test_events_reminders_due_together_are_one_message_listing_them(bot, clock):
    meeting = await announce(bot, "!événement Réunion ; demain 18h ; rappels: 1h")
    await react(bot, ANA, meeting["event_id"], "✅")
    await announce(bot, "!échéance Dépôt ; demain 18h ; rappels: 1h")
    await announce(bot, "!échéance Vote ; demain 18h ; rappels: 1h")
    clock.set(datetime(2026, 6, 16, 15, 0, tzinfo=UTC))  # 17:00 in Paris
    assert await bot.timers.fire_due() == 3
    await bot.outbox.send_due()
    (reminder,) = [s for s in bot.sender.sent if s["content"].get("msgtype") == "m.text"]
    content = reminder["content"]
    body = content["body"]
    assert body.startswith("3 rappels :")
    assert "Rappel : « Réunion » (E1) commence dans 1 heure" in body
    assert "1 personne vient : Ana" in body
    assert "il reste 1 heure avant l'échéance « Dépôt » (D2)" in body
    assert "il reste 1 heure avant l'échéance « Vote » (D3)" in body
    assert content["m.mentions"] == {"user_ids": [ANA]}
    assert "m.relates_to" not in content  # a reply to one announcement would mislead
    assert content["formatted_body"].count("<li>") == 3
    assert not [key for key in pending_tasks(bot) if key.startswith("reminder:")]


async def test_events_many_reminders_due_together_are_split_in_readable_messages(bot, clock):
    for number in range(25):
        await announce(bot, f"!échéance Lot {number} ; demain 18h ; rappels: 1h")
    clock.set(datetime(2026, 6, 16, 15, 0, tzinfo=UTC))
    assert await bot.timers.fire_due() == 25
    await bot.outbox.send_due()
    reminders = [s["content"] for s in bot.sender.sent if s["content"]["msgtype"] == "m.text"]
    assert [r["body"].split("\n")[0] for r in reminders] == ["20 rappels :", "5 rappels :"]
    listed = [f"(D{n})" for n in range(1, 26)]
    assert all(sum(label in r["body"] for r in reminders) == 1 for label in listed)


async def test_events_reminders_together_ping_everyone_coming_and_stay_under_the_size_limit(
    bot, clock
):
    first = await announce(bot, "!événement Atelier ; demain 18h ; rappels: 1h")
    second = await announce(bot, "!événement Plénière ; demain 18h ; rappels: 1h")
    first_people = [f"@a{n}:test" for n in range(30)]
    second_people = [f"@b{n}:test" for n in range(30)]
    for person in first_people:
        await react(bot, person, first["event_id"], "✅")
    for person in second_people:
        await react(bot, person, second["event_id"], "✅")
    long = "x" * 180
    for number in range(18):
        await announce(
            bot,
            f"!échéance {long}{number} ; demain 18h ; lien: https://exemple.fr/{long} ; "
            "rappels: 1h",
        )
    clock.set(datetime(2026, 6, 16, 15, 0, tzinfo=UTC))
    assert await bot.timers.fire_due() == 20
    await bot.outbox.send_due()
    reminders = [s["content"] for s in bot.sender.sent if s["content"]["msgtype"] == "m.text"]
    # 60 people cannot be pinged by one message (50 at most): the second event goes on.
    assert len(reminders) >= 2
    pinged = [user for r in reminders for user in r["m.mentions"].get("user_ids", [])]
    assert sorted(pinged) == sorted(first_people + second_people)
    assert all(len(r["m.mentions"].get("user_ids", [])) <= 50 for r in reminders)
    assert all(content_bytes(r) <= MAX_EVENT_BYTES for r in reminders)
    listed = [f"(D{n})" for n in range(3, 21)] + ["(E1)", "(E2)"]
    assert all(sum(label in r["body"] for r in reminders) == 1 for label in listed)
