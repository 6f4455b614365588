"""One meeting of a recurring event cancelled or moved, the whole series cancelled, and the
`.ics` export checked by an independent expander (recurring-ical-events) against the bot's own
schedule for a year. Recording sender, frozen clock: Monday 15 June 2026, 10:00 in Paris."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import recurring_ical_events
from harness import Harness
from icalendar import Calendar
from sqlmodel import select

from handlers.agenda import series
from storage.agenda import AgendaRepository
from storage.agenda_models import EventRsvp, OccurrenceException
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


def reminders(bot: Harness, status: str = "pending") -> list[tuple[str, datetime]]:
    return sorted(
        (t.key, t.due_at)
        for t in rows(bot, ScheduledTask)
        if t.status == status and t.key.startswith("reminder:")
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def announce(bot: Harness, command: str) -> dict[str, Any]:
    sent = await bot.deliver(bot.message(ORGANISER, command))
    assert len(sent) == 1, sent
    return sent[0]


async def fire_at(bot: Harness, clock, moment: datetime) -> list[dict[str, Any]]:
    clock.set(moment)
    before = len(bot.sender.sent)
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    return [s for s in bot.sender.sent[before:] if s["content"].get("msgtype") == "m.text"]


WEEKLY = "!événement Réunion ; tous les mardis à 18h ; rappels: 1h"


async def test_cancel_one_meeting_skips_its_reminder_and_the_series_goes_on(bot, clock):
    await announce(bot, WEEKLY)
    bodies = await bot.say(ORGANISER, "!annuler E1 le 16 juin")
    assert bodies == [
        "La réunion de E1 « Réunion » du mardi 16 juin 2026 à 18:00 (Europe/Paris) est annulée ; "
        "ses rappels ne seront pas envoyés. La série continue ; prochaine réunion : "
        "mardi 23 juin 2026 à 18:00 (Europe/Paris)."
    ]
    assert reminders(bot) == [("reminder:E1:20260623T1600:1h", utc(2026, 6, 23, 15, 0))]
    [again] = await bot.say(ORGANISER, "!annuler E1 le 16 juin")
    assert again.startswith("La réunion de E1 du mardi 16 juin 2026 est déjà annulée."), again
    assert await fire_at(bot, clock, utc(2026, 6, 16, 15, 0)) == []
    (sent,) = await fire_at(bot, clock, utc(2026, 6, 23, 15, 0))
    assert "mardi 23 juin 2026 à 18:00" in sent["content"]["body"]
    clock.set(utc(2026, 6, 23, 17, 0))
    assert "mardi 30 juin 2026 à 18:00" in (await bot.say(ANA, "!agenda"))[0]


async def test_move_one_meeting_is_announced_reminded_at_its_new_time_with_its_own_rsvps(
    bot, clock
):
    await announce(bot, WEEKLY)
    sent = await bot.deliver(
        bot.message(ORGANISER, "!déplacer E1 le 16 juin ; mercredi 17 juin 19h")
    )
    (moved,) = sent
    assert moved["content"]["body"] == (
        "La réunion de E1 « Réunion » du mardi 16 juin 2026 à 18:00 (Europe/Paris) est déplacée "
        "au mercredi 17 juin 2026 à 19:00 (Europe/Paris). Les rappels suivent la nouvelle heure ; "
        "répondez à ce message pour cette réunion : ✅ je viens, 🤔 peut-être, ❌ je ne viens pas."
    )
    assert reminders(bot) == [("reminder:E1:20260617T1700:1h", utc(2026, 6, 17, 16, 0))]
    await bot.deliver(bot.reaction(ANA, moved["event_id"], "✅"))
    agenda = (await bot.say(BEN, "!agenda"))[0]
    assert "mercredi 17 juin 2026 à 19:00 (Europe/Paris)" in agenda
    assert "✅ 1 · 🤔 0 · ❌ 0" in agenda
    assert await fire_at(bot, clock, utc(2026, 6, 16, 15, 0)) == []
    (reminder,) = await fire_at(bot, clock, utc(2026, 6, 17, 16, 0))
    assert "mercredi 17 juin 2026 à 19:00" in reminder["content"]["body"]
    assert reminder["content"]["m.mentions"] == {"user_ids": [ANA]}
    # the meeting is still named by its new date: moved again, then cancelled
    (rsvp,) = rows(bot, EventRsvp)
    assert rsvp.occurs_at == utc(2026, 6, 16, 16, 0)
    assert reminders(bot) == [("reminder:E1:20260623T1600:1h", utc(2026, 6, 23, 15, 0))]


async def test_a_moved_meeting_can_be_moved_again_or_cancelled_by_its_new_date(bot):
    await announce(bot, WEEKLY)
    await bot.say(ORGANISER, "!déplacer E1 le 16 juin ; mercredi 17 juin 19h")
    await bot.say(ORGANISER, "!move E1 June 17 ; Thursday June 18 7pm")
    (change,) = rows(bot, OccurrenceException)
    assert (change.status, change.moved_to) == ("moved", utc(2026, 6, 18, 17, 0))
    bodies = await bot.say(ORGANISER, "!annuler E1 le 18 juin")
    assert "est annulée" in bodies[0]
    (change,) = rows(bot, OccurrenceException)
    assert change.status == "cancelled"
    assert reminders(bot) == [("reminder:E1:20260623T1600:1h", utc(2026, 6, 23, 15, 0))]


@pytest.mark.parametrize(
    ("who", "command", "expected"),
    [
        (ORGANISER, "!annuler E1 le 17 juin", "E1 n'a pas de réunion le mercredi 17 juin 2026"),
        (ANA, "!annuler E1 le 16 juin", "Seuls les organisateurs ou la personne"),
        (ORGANISER, "!annuler E2 le 16 juin", "E2 n'est pas un événement récurrent"),
        (ORGANISER, "!annuler S1 le 16 juin", "Seule une réunion d'un événement récurrent"),
        (ORGANISER, "!déplacer E1 le 16 juin", "Donnez l'identifiant et la nouvelle date"),
        (ORGANISER, "!déplacer E1 le 16 juin ; mardi 23 juin 18h", "E1 a déjà une réunion"),
        (ORGANISER, "!déplacer E1 le 16 juin ; hier", "Je n'ai pas compris la date"),
    ],
)
async def test_meeting_changes_refused_with_what_was_wrong_nothing_stored(
    bot, who, command, expected
):
    await announce(bot, WEEKLY)
    await announce(bot, "!événement Atelier ; 11 mai 9h30")
    bodies = await bot.say(who, command)
    assert len(bodies) == 1 and expected in bodies[0], bodies
    assert rows(bot, OccurrenceException) == []
    assert reminders(bot)[0] == ("reminder:E1:20260616T1600:1h", utc(2026, 6, 16, 15, 0))


async def test_cancel_the_whole_series(bot, clock):
    await announce(bot, WEEKLY)
    bodies = await bot.say(ORGANISER, "!annuler E1")
    assert bodies == [
        "L'événement récurrent E1 « Réunion » (tous les mardis à 18:00) est annulé, avec toutes "
        "ses réunions ; ses rappels ne seront pas envoyés."
    ]
    assert reminders(bot) == []
    assert await fire_at(bot, clock, utc(2026, 6, 16, 15, 0)) == []
    assert reminders(bot.restart()) == []
    assert "Rien de prévu" in (await bot.say(ANA, "!agenda"))[0]


async def test_a_meeting_moved_past_the_series_end_stays_in_the_agenda_until_it_happens(bot, clock):
    await announce(bot, "!événement Réunion ; tous les mardis à 18h ; 2 fois ; rappels: 1h")
    await bot.say(ORGANISER, "!déplacer E1 le 23 juin ; jeudi 2 juillet 18h")
    clock.set(utc(2026, 6, 25, 10, 0))  # after the rule's last date, the 23rd
    shown = (await bot.say(ANA, "!agenda"))[0]
    assert "E1" in shown and "jeudi 2 juillet" in shown, shown
    assert await fire_at(bot, clock, utc(2026, 7, 2, 15, 0)) != []
    clock.set(utc(2026, 7, 2, 17, 0))  # the moved meeting is over: so is the series
    assert "Rien de prévu" in (await bot.say(ANA, "!agenda"))[0]


async def test_a_series_whose_last_meetings_are_cancelled_leaves_the_agenda_after_the_rest(
    bot, clock
):
    await announce(bot, "!événement Réunion ; tous les mardis à 18h ; 3 fois ; rappels: 1h")
    await bot.say(ORGANISER, "!annuler E1 le 30 juin")
    await bot.say(ORGANISER, "!annuler E1 le 23 juin")
    clock.set(utc(2026, 6, 16, 17, 0))  # the one meeting left is over
    assert "Rien de prévu" in (await bot.say(ANA, "!agenda"))[0]


async def test_ics_expanded_by_an_independent_library_gives_the_bots_schedule_for_a_year(bot):
    await announce(bot, "!événement Réunion ; un mardi sur deux à 18h ; fin: 20h")
    await announce(
        bot, "!événement Plénière ; le dernier vendredi du mois à 2h30 ; jusqu'au 30 mars 2027"
    )
    await announce(bot, "!événement Point ; tous les jours ouvrés à 9h ; 40 fois")
    # a first meeting inside the spring gap: 02:30 does not exist on 28 March 2027
    await announce(bot, "!événement Nuit ; tous les dimanches à 2h30 ; à partir du 28 mars")
    await announce(bot, "!événement Atelier ; tous les lundis et jeudis à 12h ; 30 fois")
    await bot.say(ORGANISER, "!annuler E1 le 30 juin")
    await bot.say(ORGANISER, "!annuler E5 le 18 juin")
    await bot.say(ORGANISER, "!déplacer E1 le 14 juillet ; mercredi 15 juillet 18h30")
    await bot.say(ORGANISER, "!annuler E3 le 17 juin")
    await bot.say(ORGANISER, "!déplacer E2 le 26 mars ; jeudi 25 mars 2027 18h")
    await bot.deliver(bot.message(ANA, "!agenda ics"))
    upload = next(s for s in bot.sender.sent if s["type"] == "upload")
    calendar = Calendar.from_ical(upload["data"])
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    masters = [e for e in calendar.walk("VEVENT") if "rrule" in e]
    assert len(masters) == 5
    start, end = utc(2026, 6, 15, 8, 0), utc(2027, 6, 15, 8, 0)
    expanded: dict[str, list[datetime]] = {}
    for event in recurring_ical_events.of(calendar).between(start, end):
        expanded.setdefault(str(event["summary"]), []).append(event.decoded("dtstart"))
    with bot.database.session() as session:
        repository = AgendaRepository(session)
        for item in repository.list_recurring():
            assert item.id is not None
            own = [
                o.starts_at
                for o in series.schedule(
                    item, repository.exceptions(item.id), after=start, before=end
                )
            ]
            got = sorted(moment.astimezone(UTC) for moment in expanded[item.title])
            assert got == own, item.title
    assert len(expanded["Point"]) == 39  # 40 meetings, one cancelled
    assert len(expanded["Atelier"]) == 29  # two a week, 30 meetings, one cancelled
    nights = sorted(moment.astimezone(UTC) for moment in expanded["Nuit"])
    assert nights[:2] == [utc(2027, 3, 28, 1, 30), utc(2027, 4, 4, 0, 30)]  # 03:30, then 02:30
    assert utc(2026, 7, 15, 16, 30) in [m.astimezone(UTC) for m in expanded["Réunion"]]
    reunion = next(e for e in masters if str(e["summary"]) == "Réunion")
    assert reunion.decoded("dtend") - reunion.decoded("dtstart") == timedelta(hours=2)
    assert "EXDATE" in reunion
    assert "RECURRENCE-ID" in upload["data"].decode()


async def test_a_meeting_moved_back_to_its_time_is_reminded_there_again(bot, clock):
    await announce(bot, WEEKLY)
    await bot.say(ORGANISER, "!déplacer E1 le 16 juin ; mercredi 17 juin 19h")
    assert reminders(bot) == [("reminder:E1:20260617T1700:1h", utc(2026, 6, 17, 16, 0))]
    await bot.say(ORGANISER, "!déplacer E1 le 17 juin ; mardi 16 juin 18h")
    assert reminders(bot) == [("reminder:E1:20260616T1600:1h", utc(2026, 6, 16, 15, 0))]
    (sent,) = await fire_at(bot, clock, utc(2026, 6, 16, 15, 0))
    assert "mardi 16 juin 2026 à 18:00" in sent["content"]["body"]
    assert await fire_at(bot, clock, utc(2026, 6, 17, 16, 0)) == []
