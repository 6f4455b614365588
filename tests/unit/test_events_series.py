"""Recurring events through the real router, outbox and timers (recording sender, frozen
clock: Monday 15 June 2026, 10:00 in Paris): the confirmation in words, one timer per series
re-armed after each reminder, RSVPs per occurrence, `!agenda`, and a restart after downtime."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from harness import Harness
from sqlmodel import select

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


def tasks(bot: Harness, status: str = "pending") -> list[tuple[str, datetime]]:
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


async def react(bot: Harness, sender: str, target: str, key: str) -> str:
    event = bot.reaction(sender, target, key)
    await bot.deliver(event)
    return event["event_id"]


async def fire_at(bot: Harness, clock, moment: datetime) -> list[dict[str, Any]]:
    """Move the clock, fire what is due, send it; returns the reminders sent (m.text)."""
    clock.set(moment)
    before = len(bot.sender.sent)
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    return [s for s in bot.sender.sent[before:] if s["content"].get("msgtype") == "m.text"]


async def test_series_confirmation_states_the_rule_and_next_meetings(bot):
    sent = await announce(
        bot, "!événement Réunion du groupe ; tous les mardis à 18h ; jusqu'au 29 juin 2027"
    )
    body = sent["content"]["body"]
    assert "Événement E1 : Réunion du groupe" in body
    assert (
        "Se répète : tous les mardis à 18:00, à partir du mardi 16 juin 2026, "
        "jusqu'au mardi 29 juin 2027" in body
    )
    assert (
        "Prochaines : mardi 16 juin 2026 à 18:00 (Europe/Paris) ; mardi 23 juin 2026 à 18:00 "
        "(Europe/Paris) ; mardi 30 juin 2026 à 18:00 (Europe/Paris)" in body
    )
    assert "Rappels : 7j, 1j, 1h" in body
    (item,) = rows(bot, AgendaItem)
    assert item.recurrence == "FREQ=WEEKLY;BYDAY=TU;BYHOUR=18;BYMINUTE=0;UNTIL=20270629T235959"
    assert item.starts_at == utc(2026, 6, 16, 16, 0)
    assert item.last_at == utc(2027, 6, 29, 16, 0)
    # one timer only: the next reminder (7d before the first meeting is already past)
    assert tasks(bot) == [("reminder:E1:20260616T1600:1d", utc(2026, 6, 15, 16, 0))]


async def test_series_written_in_english_bounds_in_their_own_fields(bot):
    sent = await announce(bot, "!event Plenary ; first Thursday of the month at 2pm ; 3 times")
    body = sent["content"]["body"]
    assert "le premier jeudi du mois à 14:00, à partir du jeudi 2 juillet 2026, 3 fois" in body


@pytest.mark.parametrize("language", ["en"])
async def test_series_in_an_english_room(bot, clock):
    sent = await announce(bot, "!event Group meeting ; every other Tuesday at 6pm ; until July 14")
    body = sent["content"]["body"]
    assert (
        "Repeats: every other Tuesday at 18:00, from Tuesday 16 June 2026, "
        "until Tuesday 14 July 2026" in body
    )
    assert "Next meetings: Tuesday 16 June 2026 at 18:00 (Europe/Paris) ; Tuesday 30 June" in body
    agenda = (await bot.say(ANA, "!upcoming"))[0]
    assert "(repeats: every other Tuesday at 18:00)" in agenda
    cancelled = (await bot.say(ORGANISER, "!cancel E1 June 30"))[0]
    assert cancelled.startswith(
        "The meeting of E1 “Group meeting” on Tuesday 30 June 2026 at 18:00 (Europe/Paris) "
        "is cancelled"
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!événement Réunion ; le 31 de chaque mois à 9h", "tous les mois n'ont pas de jour 31"),
        (
            "!événement Réunion ; tous les mardis à 18h ; à partir du 12 janvier ; "
            "jusqu'au 5 janvier",
            "finit avant de commencer",
        ),
        ("!événement Réunion ; tous les mardis", "Dites à quelle heure"),
        ("!échéance Dépôt ; tous les mardis à 18h", "Seuls les événements se répètent"),
    ],
)
async def test_series_impossible_rules_are_refused_and_nothing_is_stored(bot, command, expected):
    bodies = await bot.say(ORGANISER, command)
    assert len(bodies) == 1 and expected in bodies[0], bodies
    assert rows(bot, AgendaItem) == []
    assert rows(bot, ScheduledTask) == []


async def test_series_reminders_rearm_after_each_occurrence_at_wall_time_across_dst(bot, clock):
    clock.set(utc(2026, 10, 14, 8, 0))  # Wednesday 14 October 2026, summer time
    await announce(bot, "!événement Réunion ; tous les mardis à 18h ; rappels: 1h")
    assert tasks(bot) == [("reminder:E1:20261020T1600:1h", utc(2026, 10, 20, 15, 0))]
    sent = await fire_at(bot, clock, utc(2026, 10, 20, 15, 0))
    assert len(sent) == 1
    assert "commence dans 1 heure — mardi 20 octobre 2026 à 18:00" in sent[0]["content"]["body"]
    # re-armed for the next Tuesday, after the change to winter time (25 October): 17:00 UTC
    assert tasks(bot) == [("reminder:E1:20261027T1700:1h", utc(2026, 10, 27, 16, 0))]
    assert await fire_at(bot, clock, utc(2026, 10, 27, 15, 59)) == []
    sent = await fire_at(bot, clock, utc(2026, 10, 27, 16, 0))
    assert "mardi 27 octobre 2026 à 18:00" in sent[0]["content"]["body"]
    assert [key for key, _ in tasks(bot, "done")] == [
        "reminder:E1:20261020T1600:1h",
        "reminder:E1:20261027T1700:1h",
    ]


async def test_series_several_offsets_fire_in_order_one_timer_at_a_time(bot, clock):
    await announce(bot, "!événement Réunion ; tous les jeudis à 18h ; rappels: 1j, 1h")
    assert tasks(bot) == [("reminder:E1:20260618T1600:1d", utc(2026, 6, 17, 16, 0))]
    await fire_at(bot, clock, utc(2026, 6, 17, 16, 0))
    assert tasks(bot) == [("reminder:E1:20260618T1600:1h", utc(2026, 6, 18, 15, 0))]
    await fire_at(bot, clock, utc(2026, 6, 18, 15, 0))
    assert tasks(bot) == [("reminder:E1:20260625T1600:1d", utc(2026, 6, 24, 16, 0))]


async def test_series_rsvp_counts_per_occurrence(bot, clock):
    sent = await announce(bot, "!événement Réunion ; tous les mardis à 18h ; rappels: 1h")
    await react(bot, ANA, sent["event_id"], "✅")  # on the announcement: the first meeting
    agenda = (await bot.say(BEN, "!agenda"))[0]
    assert "E1 — Réunion — mardi 16 juin 2026 à 18:00 (Europe/Paris)" in agenda
    assert "(se répète : tous les mardis à 18:00)" in agenda
    assert "✅ 1 · 🤔 0 · ❌ 0" in agenda
    (first,) = await fire_at(bot, clock, utc(2026, 6, 16, 15, 0))
    assert first["content"]["m.mentions"] == {"user_ids": [ANA]}
    assert "Cette réunion se répète" in first["content"]["body"]
    # the next meeting: nobody answered yet; Ben answers on the first reminder (for the 16th)
    clock.set(utc(2026, 6, 16, 17, 0))
    agenda = (await bot.say(BEN, "!agenda"))[0]
    assert "mardi 23 juin 2026 à 18:00 (Europe/Paris)" in agenda
    assert "✅ 0 · 🤔 0 · ❌ 0" in agenda
    (second,) = await fire_at(bot, clock, utc(2026, 6, 23, 15, 0))
    assert second["content"]["m.mentions"] == {}
    await react(bot, BEN, second["event_id"], "✅")
    await react(bot, ANA, second["event_id"], "❌")
    agenda = (await bot.say(BEN, "!agenda"))[0]
    assert "mardi 23 juin 2026" in agenda and "✅ 1 · 🤔 0 · ❌ 1" in agenda
    answers = sorted((r.user_id, r.answer, r.occurs_at) for r in rows(bot, EventRsvp))
    assert answers == [
        (ANA, "going", utc(2026, 6, 16, 16, 0)),
        (ANA, "not_going", utc(2026, 6, 23, 16, 0)),
        (BEN, "going", utc(2026, 6, 23, 16, 0)),
    ]


async def test_series_restart_after_downtime_reports_the_missed_reminder_once_and_goes_on(
    bot, clock
):
    await announce(bot, "!événement Réunion ; tous les mardis à 18h ; rappels: 1h")
    clock.set(utc(2026, 6, 16, 18, 0))  # down from before the reminder until after the meeting
    restarted = bot.restart()
    await restarted.outbox.send_due()
    missed = [s for s in restarted.sender.sent if "rappel 1h avant E1" in s["content"]["body"]]
    assert len(missed) == 1
    assert tasks(restarted) == [("reminder:E1:20260623T1600:1h", utc(2026, 6, 23, 15, 0))]
    again = restarted.restart()
    await again.outbox.send_due()
    assert tasks(again) == [("reminder:E1:20260623T1600:1h", utc(2026, 6, 23, 15, 0))]
    assert len([s for s in again.sender.sent if "rappel 1h avant E1" in s["content"]["body"]]) == 1
    sent = await fire_at(again, clock, utc(2026, 6, 23, 15, 0))
    assert "mardi 23 juin 2026 à 18:00" in sent[0]["content"]["body"]
