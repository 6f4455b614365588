"""A one-off event or deadline moved with `!déplacer` (frozen clock: Monday 15 June 2026, 10:00
in Paris): the new date announced, its end and reminders following it, answers kept, a deadline
pushed back reminded again, and refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from harness import Harness
from sqlmodel import select

from storage.agenda_models import AgendaItem
from storage.models import ScheduledTask

ORGANISER = "@orga:test"
ANA = "@ana:test"


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pending(bot: Harness) -> list[tuple[str, datetime]]:
    """The pending reminders (and nudges) of the room's events and deadlines."""
    with bot.database.session() as session:
        tasks = session.exec(select(ScheduledTask).where(ScheduledTask.status == "pending"))
        return sorted((task.key, task.due_at) for task in tasks if task.key.startswith("reminder:"))


def item(bot: Harness, number: int) -> AgendaItem:
    with bot.database.session() as session:
        found = session.get(AgendaItem, number)
        assert found is not None
        return found


async def fire_at(bot: Harness, clock, moment: datetime) -> list[str]:
    """Move the clock, fire what is due; the bodies of the reminders sent (m.text)."""
    clock.set(moment)
    before = len(bot.sender.sent)
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    return [
        s["content"]["body"]
        for s in bot.sender.sent[before:]
        if s["content"].get("msgtype") == "m.text"
    ]


async def test_an_event_moved_keeps_its_answers_and_length_and_is_reminded_at_its_new_time(
    bot: Harness, clock
):
    [announcement] = await bot.deliver(
        bot.message(ORGANISER, "!événement Atelier ; jeudi 18 juin 18h ; fin: 20h ; rappels: 1h")
    )
    await bot.deliver(bot.reaction(ANA, announcement["event_id"], "✅"))

    [moved] = await bot.say(ORGANISER, "!déplacer E1 ; vendredi 19 juin 18h30")

    assert moved == (
        "Nouvelle date pour l'événement E1 « Atelier » : vendredi 19 juin 2026 à 18:30 "
        "(Europe/Paris) (au lieu du jeudi 18 juin 2026 à 18:00 (Europe/Paris)). Les rappels "
        "suivent la nouvelle date ; les réponses données sur l'annonce restent, changez-les là "
        "si besoin."
    )
    event = item(bot, 1)
    assert (event.starts_at, event.ends_at) == (utc(2026, 6, 19, 16, 30), utc(2026, 6, 19, 18, 30))
    assert pending(bot) == [("reminder:E1:20260619T1630:1h", utc(2026, 6, 19, 15, 30))]
    agenda = (await bot.say(ANA, "!agenda"))[0]
    assert "vendredi 19 juin 2026 à 18:30" in agenda and "✅ 1" in agenda, agenda
    assert await fire_at(bot, clock, utc(2026, 6, 18, 15, 0)) == []  # the old time: nothing
    [reminder] = await fire_at(bot, clock, utc(2026, 6, 19, 15, 30))
    assert "« Atelier » (E1) commence dans 1 heure" in reminder, reminder
    assert "vendredi 19 juin 2026 à 18:30" in reminder


async def test_a_deadline_pushed_back_keeps_its_time_and_reminds_again(bot: Harness, clock):
    await bot.say(ORGANISER, "!réglages relances on")
    await bot.say(ORGANISER, "!échéance Dépôt des contributions ; 30 juin 23h59 ; rappels: 7j, 1j")
    sent = await fire_at(bot, clock, utc(2026, 6, 23, 21, 59))  # the 7-day reminder goes out
    assert len(sent) == 1 and "7 jours" in sent[0], sent

    [moved] = await bot.say(ORGANISER, "!déplacer D1 ; 15 juillet")  # no time: still 23:59

    assert (
        "Nouvelle date pour l'échéance D1 « Dépôt des contributions » : mercredi 15 juillet "
        in moved
    )
    assert "2026 à 23:59" in moved
    assert pending(bot) == [
        ("reminder:D1:20260715T2159:1d", utc(2026, 7, 14, 21, 59)),
        ("reminder:D1:20260715T2159:7d", utc(2026, 7, 8, 21, 59)),
        ("reminder:D1:20260715T2159:nudge", utc(2026, 7, 14, 21, 59)),
    ]
    assert await fire_at(bot, clock, utc(2026, 6, 29, 21, 59)) == []  # the old 1-day reminder
    [again] = await fire_at(bot, clock, utc(2026, 7, 8, 21, 59))  # 7 days before the new date
    assert "7 jours" in again and "mercredi 15 juillet 2026 à 23:59" in again, again


async def test_a_reminder_past_at_the_announcement_comes_back_for_a_later_date(bot: Harness):
    [announced] = await bot.say(ORGANISER, "!échéance Rendu ; jeudi 18 juin 18h ; rappels: 7j, 1j")
    assert "Déjà passés, non programmés : 7j" in announced, announced

    await bot.say(ORGANISER, "!déplacer D1 ; jeudi 2 juillet 18h")

    assert pending(bot) == [
        ("reminder:D1:20260702T1600:1d", utc(2026, 7, 1, 16, 0)),
        ("reminder:D1:20260702T1600:7d", utc(2026, 6, 25, 16, 0)),
    ]


async def test_a_moved_event_is_still_reminded_after_a_restart(bot: Harness, clock):
    await bot.say(ORGANISER, "!événement Atelier ; jeudi 18 juin 18h ; rappels: 1h")
    await bot.say(ORGANISER, "!move E1 ; Saturday June 20 10am")
    restarted = bot.restart()
    [reminder] = await fire_at(restarted, clock, utc(2026, 6, 20, 7, 0))
    assert "samedi 20 juin 2026 à 10:00" in reminder


@pytest.mark.parametrize(
    ("who", "command", "expected"),
    [
        (ANA, "!déplacer E1 ; vendredi 19 juin 18h", "Seuls les organisateurs ou la personne"),
        (ORGANISER, "!déplacer E1 le 17 juin ; vendredi 19 juin 18h", "E1 est le jeudi 18 juin"),
        (ORGANISER, "!déplacer E1 ; jeudi 18 juin 18h", "E1 « Atelier » est déjà le jeudi"),
        (ORGANISER, "!déplacer E1 ; hier 18h", "Je n'ai pas compris la date"),
        (ORGANISER, "!déplacer E1 ; 1er juin 2026 18h", "est déjà passé"),
        (ORGANISER, "!déplacer E9 ; vendredi 18h", "Il n'y a pas de E9 dans ce salon"),
        (ORGANISER, "!déplacer E2 ; mercredi 17 juin 18h", "E2 est un événement récurrent"),
        (ORGANISER, "!déplacer E1 vendredi 18h", "Donnez l'identifiant et la nouvelle date"),
        (ORGANISER, "!déplacer S1 ; vendredi 18h", "Seuls un événement (E…) ou une échéance"),
    ],
)
async def test_moves_refused_with_what_was_wrong_change_nothing(
    bot: Harness, who: str, command: str, expected: str
):
    await bot.say(ORGANISER, "!événement Atelier ; jeudi 18 juin 18h ; rappels: 1h")
    await bot.say(ORGANISER, "!événement Réunion ; tous les mardis à 18h ; rappels: 1h")
    before: list[Any] = pending(bot)

    bodies = await bot.say(who, command)

    assert len(bodies) == 1 and expected in bodies[0], bodies
    assert item(bot, 1).starts_at == utc(2026, 6, 18, 16, 0)
    assert pending(bot) == before
