"""Pacing on the shipped defaults: nothing a person types is dropped; only a flood is refused,
and named in one reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from harness import ROOM, Harness, shipped_config

from bot.runtime.clock import FrozenClock
from bot.runtime.pacing import FLOOD_QUIET, Pacer, Verdict
from storage.proposals import ProposalRepository

NOW = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
ALICE = "@alice:test"
BOB = "@bob:test"
ORGANISER = "@orga:test"

SHIPPED = shipped_config().bot
PACE = SHIPPED.commands_per_minute
MAX_WAITING = SHIPPED.max_waiting_commands


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


def stored_proposals(bot: Harness) -> list[str]:
    with bot.database.session() as session:
        return [p.text for p in ProposalRepository(session).list(ROOM)]


async def catch_up(bot: Harness) -> list[str]:
    """Let time pass until every waiting command has had its turn; the bot's answers."""
    answers: list[str] = []
    for _ in range(MAX_WAITING + 2):
        before = len(bot.sender.sent)
        bot.clock.advance(timedelta(minutes=1) / PACE)
        await bot.intake.run_due_waiting()
        await bot.outbox.send_due()
        answers += [item["content"].get("body", "") for item in bot.sender.sent[before:]]
    return answers


def test_shipped_pace_lets_a_pasted_programme_through_at_once():
    pacer = Pacer(PACE, MAX_WAITING)
    verdicts = [pacer.admit(ROOM, ALICE, NOW).verdict for _ in range(PACE)]
    assert verdicts == [Verdict.NOW] * PACE
    waits = [pacer.admit(ROOM, ALICE, NOW) for _ in range(3)]
    assert [w.verdict for w in waits] == [Verdict.WAIT] * 3
    assert [w.first_wait for w in waits] == [True, False, False]
    spacing = timedelta(minutes=1) / PACE
    assert [w.due_at for w in waits] == [NOW + spacing, NOW + 2 * spacing, NOW + 3 * spacing]
    assert pacer.admit(ROOM, BOB, NOW).verdict is Verdict.NOW  # others are not held up


def test_a_person_who_caught_up_is_not_paced_again():
    pacer = Pacer(PACE, MAX_WAITING)
    for _ in range(PACE + 5):
        pacer.admit(ROOM, ALICE, NOW)
    for _ in range(5):
        pacer.finished(ROOM, ALICE)
    later = NOW + timedelta(minutes=2)
    assert [pacer.admit(ROOM, ALICE, later).verdict for _ in range(PACE)] == [Verdict.NOW] * PACE


def test_organisers_are_not_paced_until_a_flood():
    pacer = Pacer(PACE, MAX_WAITING)
    flood = PACE + MAX_WAITING
    verdicts = [pacer.admit(ROOM, ORGANISER, NOW, organiser=True).verdict for _ in range(flood)]
    assert verdicts == [Verdict.NOW] * flood
    assert pacer.admit(ROOM, ORGANISER, NOW, organiser=True).verdict is Verdict.REFUSE
    later = NOW + timedelta(minutes=1)
    assert pacer.admit(ROOM, ORGANISER, later, organiser=True).verdict is Verdict.NOW


async def test_burst_beyond_the_pace_is_answered_in_order_and_stored_once(bot):
    count = PACE + 15
    answers: list[str] = []
    for index in range(count):
        answers += await bot.say(ALICE, f"!proposition Idée numéro {index} #numérique")
    catching_up = [a for a in answers if "un peu plus lentement" in a]
    assert len(catching_up) == 1
    assert len(stored_proposals(bot)) == PACE
    reactions_before = [s for s in bot.sender.sent if s["type"] == "m.reaction"]
    assert len(reactions_before) == PACE  # each recorded proposal is acknowledged
    await catch_up(bot)
    texts = stored_proposals(bot)
    assert sorted(texts) == sorted(f"Idée numéro {i} #numérique" for i in range(count))
    assert len(set(texts)) == count
    reactions = [s for s in bot.sender.sent if s["type"] == "m.reaction"]
    assert len(reactions) == count


async def test_waiting_commands_survive_a_restart(bot):
    for index in range(PACE + 3):
        await bot.say(ALICE, f"!proposition Avant redémarrage {index} #ess")
    assert len(stored_proposals(bot)) == PACE
    restarted = bot.restart()
    await catch_up(restarted)
    assert len(stored_proposals(restarted)) == PACE + 3


async def test_a_waiting_command_runs_as_edited_and_not_at_all_if_deleted(bot):
    events = [bot.message(ALICE, f"!proposition N{i}") for i in range(PACE + 2)]
    await bot.deliver(*events)
    edited, deleted = events[PACE]["event_id"], events[PACE + 1]["event_id"]
    edit = bot.event(
        ALICE,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* !proposition Corrigée #mobilité",
            "m.new_content": {"msgtype": "m.text", "body": "!proposition Corrigée #mobilité"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": edited},
        },
    )
    redaction = bot.redaction(ALICE, deleted)
    await bot.deliver(edit, redaction)
    await catch_up(bot)
    texts = stored_proposals(bot)
    assert "Corrigée #mobilité" in texts
    assert f"N{PACE}" not in texts and f"N{PACE + 1}" not in texts
    assert len(texts) == PACE + 1


async def test_a_flood_is_refused_with_one_reply_naming_each_refused_command(bot):
    extra = 7
    for index in range(PACE + MAX_WAITING + extra):
        await bot.say(ALICE, f"!proposition Flot {index:03d}")
    # meanwhile, someone else is answered at once
    assert await bot.say(BOB, "!aide")
    bot.clock.advance(FLOOD_QUIET)
    before = len(bot.sender.sent)
    await bot.intake.run_due_waiting()
    await bot.outbox.send_due()
    reports = [
        s["content"]["body"]
        for s in bot.sender.sent[before:]
        if "Trop de commandes" in s["content"].get("body", "")
    ]
    assert len(reports) == 1
    report = reports[0]
    assert f"{extra} de vos commandes" in report
    refused = range(PACE + MAX_WAITING, PACE + MAX_WAITING + extra)
    for index in refused:
        assert f"!proposition Flot {index:03d}" in report
    assert "!proposition Flot 000" not in report
    answers = await catch_up(bot)
    assert not any("Trop de commandes" in a for a in answers)  # reported once
    texts = stored_proposals(bot)
    assert len(texts) == PACE + MAX_WAITING
    assert all(f"Flot {index:03d}" not in texts for index in refused)


async def test_an_organiser_pasting_a_programme_is_answered_at_once(bot):
    answers = []
    for month in ("juin", "juillet"):
        for day in range(1, 21):
            line = f"!échéance Étape {day} {month} ; {day} {month} 2027 18h"
            answers.append(await bot.say(ORGANISER, line))
    assert [len(a) for a in answers] == [1] * 40
    assert all("Étape" in a[0] and "un peu plus lentement" not in a[0] for a in answers)
