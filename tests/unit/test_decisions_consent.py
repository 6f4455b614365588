"""Decisions by consent (`!décision`): the rule, the reactions that vote, reasons by reply, and
the result at the close, through the unit kit (the bot as built, frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from handlers.polls.consent import (
    ABSTAIN,
    AGREE,
    DISAGREE,
    OBJECT,
    Objection,
    consent_answer,
    consent_result,
)
from storage.models import OutboxMessage, ScheduledTask
from storage.poll_models import Poll, PollReason
from storage.polls import PollRepository
from storage.privacy import PrivacyRepository

AUTHOR = "@alice:test"
ORGANISER = "@orga:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "answer"),
    [
        ("✅", AGREE),
        ("🤷", ABSTAIN),
        ("🤷\u200d\u2640\ufe0f", ABSTAIN),  # 🤷‍♀️
        ("🤷🏽\u200d\u2642\ufe0f", ABSTAIN),
        ("👎", DISAGREE),
        ("👎🏿", DISAGREE),
        ("✋", OBJECT),
        ("✋🏻", OBJECT),
        ("👍", None),
        ("1\ufe0f\u20e3", None),
        ("✋✋", None),
    ],
)
def test_decisions_reactions_that_vote(key: str, answer: str | None) -> None:
    assert consent_answer(key) == answer


def test_decisions_adopted_when_no_objection_stands_whatever_the_disagreements() -> None:
    result = consent_result({"@a": (DISAGREE,), "@b": (DISAGREE,), "@c": (AGREE,)}, [])
    assert result.outcome == "adopted"
    assert dict(result.counts) == {AGREE: 1, ABSTAIN: 0, DISAGREE: 2, OBJECT: 0}
    assert result.voters == 3 and result.objections == ()


def test_decisions_one_objection_blocks_with_its_latest_reason() -> None:
    reasons = [("@o", 10, "trop cher"), ("@o", 30, "trop cher, et pas urgent"), ("@a", 5, "ok")]
    result = consent_result({"@a": (AGREE,), "@b": (AGREE,), "@o": (OBJECT,)}, reasons)
    assert result.outcome == "blocked"
    assert result.objections == (Objection("@o", "trop cher, et pas urgent"),)


def test_decisions_objection_without_reason_and_reasons_of_non_objectors_not_shown() -> None:
    result = consent_result({"@o": (OBJECT,), "@p": (OBJECT,), "@a": (AGREE,)}, [("@a", 1, "x")])
    assert result.objections == (Objection("@o", None), Objection("@p", None))


def test_decisions_nobody_answered_decides_nothing() -> None:
    assert consent_result({}, []).outcome == "no_votes"


# --- end to end through the kit -----------------------------------------------------------


def sent_rows(bot: Harness) -> dict[str, OutboxMessage]:
    with bot.database.session() as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id))
        return {row.key: row for row in rows if not row.key.startswith("reply:")}


def decision(bot: Harness, poll_id: int = 1) -> Poll:
    with bot.database.session() as session:
        found = PollRepository(session).get(poll_id)
        assert found is not None
        return found


def reply_to(bot: Harness, sender: str, target: str, body: str) -> dict[str, Any]:
    content = {
        "msgtype": "m.text",
        "body": f"> <@alice:test> Décision S1…\n\n{body}",
        "m.relates_to": {"m.in_reply_to": {"event_id": target}},
    }
    return bot.event(sender, "m.room.message", content)


async def test_decisions_command_posts_the_rule_the_four_reactions_and_a_timer(bot: Harness):
    answers = await bot.say(AUTHOR, "!décision On adopte la charte ; fin: dans 2 heures")
    notice = answers[0]
    assert notice.startswith("Décision S1 proposée : On adopte la charte")
    for line in ("✅ d’accord", "🤷 abstention", "👎 pas d’accord", "✋ objection"):
        assert line in notice, notice
    assert "adoptée sauf si une objection est maintenue à la clôture" in notice
    assert "!clore S1" in notice
    stored = decision(bot)
    assert (stored.kind, stored.status, stored.max_selections) == ("consent", "open", 1)
    rows = sent_rows(bot)
    # the bot puts the four answers under its message, one click away
    reactions = [r for r in bot.sender.sent if r["type"] == "m.reaction"]
    assert [r["content"]["m.relates_to"]["key"] for r in reactions] == ["✅", "🤷", "👎", "✋"]
    assert {r["content"]["m.relates_to"]["event_id"] for r in reactions} == {stored.notice_event_id}
    assert "poll:S1:start" not in rows  # not a native poll
    with bot.database.session() as session:
        (task,) = session.exec(select(ScheduledTask)).all()
    assert (task.key, task.due_at) == ("poll_close:S1", START + timedelta(hours=2))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!décision", "Écrivez la décision à prendre"),
        ("!décision A ; B", "Une décision est un seul texte"),
        ("!décision A ; fni: demain", "Champ inconnu : « fni »"),
        ("!décision A ; choix: 2", "Champ inconnu : « choix »"),
        ("!décision A ; fin: 2001-01-01 10:00", "déjà passé"),
    ],
)
async def test_decisions_bad_input_is_refused_and_nothing_stored(bot: Harness, command, expected):
    [answer] = await bot.say(AUTHOR, command)
    assert expected in answer, answer
    with bot.database.session() as session:
        assert session.exec(select(Poll)).all() == []


async def test_decisions_votes_changes_reasons_and_result_at_the_close(bot: Harness):
    await bot.say(AUTHOR, "!décision On adopte la charte ; fin: dans 1 heure")
    message = decision(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    objected = await bot.deliver(bot.reaction("@carol:test", message, "✋🏽"))
    # an objection asks for its reason, mentioning only the objector
    [ask] = objected
    assert ask["content"]["m.mentions"] == {"user_ids": ["@carol:test"]}
    assert "vous objectez à la décision S1" in ask["content"]["body"]
    reason = reply_to(bot, "@carol:test", message, "Le budget n'est pas voté.")
    acknowledged = await bot.deliver(reason)
    assert [a["content"]["m.relates_to"]["key"] for a in acknowledged] == ["📝"]
    # dan objects, then changes his mind: abstains (the latest reaction counts)
    first = bot.reaction("@dan:test", message, "✋")
    await bot.deliver(first)
    await bot.deliver(bot.redaction("@dan:test", first["event_id"]))
    await bot.deliver(bot.reaction("@dan:test", message, "🤷"))
    # bob agreed, then objects too, without a reason: asked once only
    await bot.deliver(bot.reaction("@bob:test", message, "✋"))
    again = await bot.deliver(bot.reaction("@bob:test", message, "✋"))
    assert again == []
    bot.clock.set(START + timedelta(hours=1, seconds=5))
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    result = sent_rows(bot)["pollresults:S1"].content["body"]
    assert result.startswith("Résultat de la décision S1 : On adopte la charte"), result
    assert "✅ d’accord — 0" in result and "✋ objection — 2" in result
    assert "🤷 abstention — 1" in result
    assert "3 votants" in result
    assert "Règle : adoptée sauf si une objection est maintenue à la clôture." in result
    assert "Non adoptée : 2 objections maintenues." in result
    assert "✋ Carol : Le budget n'est pas voté." in result
    assert "✋ Bob : (sans raison donnée)" in result
    stored = decision(bot)
    assert stored.status == "closed"
    assert stored.result == {
        "counts": {AGREE: 0, ABSTAIN: 1, DISAGREE: 0, OBJECT: 2},
        "voters": 3,
        "outcome": "blocked",
        "objections": 2,
        "winners": [],
        "quorum": None,
        "members": 0,  # the test homeserver lists nobody
    }


async def test_decisions_clore_adopts_and_later_replies_change_nothing(bot: Harness):
    await bot.say(AUTHOR, "!décision Pique-nique samedi")
    message = decision(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    await bot.deliver(bot.reaction("@carol:test", message, "👎"))
    [result] = await bot.say(ORGANISER, "!clore S1")
    assert "Adoptée : aucune objection n’est maintenue." in result
    assert "2 votants" in result
    late = await bot.deliver(reply_to(bot, "@carol:test", message, "trop tard"))
    assert late == []
    with bot.database.session() as session:
        assert session.exec(select(PollReason)).all() == []


async def test_decisions_deleted_reply_is_forgotten(bot: Harness):
    await bot.say(AUTHOR, "!décision Pique-nique samedi")
    message = decision(bot).notice_event_id
    assert message is not None
    reason = reply_to(bot, "@carol:test", message, "pas dispo")
    await bot.deliver(reason)
    await bot.deliver(bot.redaction("@carol:test", reason["event_id"]))
    with bot.database.session() as session:
        assert session.exec(select(PollReason)).all() == []


async def test_decisions_replies_are_exported_erased_and_aged_out(bot: Harness):
    await bot.say(AUTHOR, "!décision Pique-nique samedi")
    message = decision(bot).notice_event_id
    assert message is not None
    await bot.deliver(reply_to(bot, "@carol:test", message, "pas dispo"))
    await bot.deliver(reply_to(bot, "@dan:test", message, "moi non plus"))
    with bot.database.session() as session:
        privacy = PrivacyRepository(session)
        exported = privacy.collect("@carol:test")["decision_replies"]
        assert [(r["decision"], r["text"]) for r in exported] == [("S1", "pas dispo")]
        privacy.forget(
            "@carol:test", now=bot.clock.now(), erased_text=str, anonymous=lambda room: "anon"
        )
        assert [r.voter for r in session.exec(select(PollReason))] == ["@dan:test"]
        privacy.purge_step(bot.clock.now() + timedelta(seconds=1), limit=100)
        assert session.exec(select(PollReason)).all() == []


async def test_decisions_edited_reason_is_the_one_listed(bot: Harness):
    await bot.say(AUTHOR, "!décision Pique-nique samedi")
    message = decision(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@carol:test", message, "✋"))
    reason = reply_to(bot, "@carol:test", message, "pas dispo")
    await bot.deliver(reason)
    await bot.deliver(bot.edit("@carol:test", reason["event_id"], "Il va pleuvoir samedi."))
    [result] = await bot.say(ORGANISER, "!clore S1")
    assert "✋ Carol : Il va pleuvoir samedi." in result, result
