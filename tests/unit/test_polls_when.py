"""Meeting-time polls (`!quand`): slots read by the date grammar, answers per slot by reply,
the best slot and its rule, and `!événement depuis S<n>` making it an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from bot.text.errors import UserError
from handlers.polls.availability import availability_result, read_availability
from storage.agenda_models import AgendaItem
from storage.poll_models import Poll
from storage.polls import PollRepository

AUTHOR = "@alice:test"
ORGANISER = "@orga:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)  # Monday 3 May 2027, 10:00 in Paris
IDS = ("a1", "a2", "a3")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


@pytest.mark.parametrize(
    ("text", "selections"),
    [
        ("oui non peut-être", ("a1:yes", "a2:no", "a3:maybe")),
        ("Oui, NON, Peut-etre", ("a1:yes", "a2:no", "a3:maybe")),
        ("yes maybe no", ("a1:yes", "a2:maybe", "a3:no")),
        ("o n p", ("a1:yes", "a2:no", "a3:maybe")),
        ("1:oui 3: non", ("a1:yes", "a3:no")),
    ],
)
def test_when_reads_answers_per_slot(text, selections):
    assert read_availability(text, IDS) == selections


@pytest.mark.parametrize(
    ("text", "msgid_part"),
    [
        ("", "Answer each slot"),
        ("oui non", "one answer per slot"),
        ("oui non bof", "is not an answer"),
        ("4:oui", "no slot"),
        ("1:oui 1:non", "answered twice"),
    ],
)
def test_when_refuses_bad_answers(text, msgid_part):
    with pytest.raises(UserError) as refused:
        read_availability(text, IDS)
    assert msgid_part in refused.value.message.msgid


def test_when_best_slot_rule():
    ballots = [("a1:maybe", "a2:yes", "a3:yes"), ("a2:maybe", "a3:yes"), ("a1:yes", "a2:yes")]
    result = availability_result(IDS, ballots)
    assert (result.counts["a2"].yes, result.counts["a2"].maybe) == (2, 1)
    assert result.best == "a2"  # a2 and a3 have 2 yes; a2 has a maybe more
    assert availability_result(IDS[:2], [("a1:yes",), ("a2:yes",)]).best == "a1"  # earliest
    assert availability_result(IDS, [("a1:no", "a2:maybe")]).best is None


def reply(bot: Harness, sender: str, target: str, body: str) -> dict[str, Any]:
    content = {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"m.in_reply_to": {"event_id": target}},
    }
    return bot.event(sender, "m.room.message", content)


def poll(bot: Harness) -> Poll:
    with bot.database.session() as session:
        found = PollRepository(session).get(1)
        assert found is not None
        return found


async def test_when_poll_best_slot_becomes_an_event(bot: Harness):
    [notice] = await bot.say(
        AUTHOR,
        "!quand Prochaine plénière ; jeudi 18h ; mardi 18h ; mercredi 9h ; fin: dans 1 heure",
    )
    assert notice.startswith("Sondage de date S1 : Prochaine plénière"), notice
    # slots in time order, in words
    assert "1. mardi 4 mai 2027 à 18:00 (Europe/Paris)" in notice, notice
    assert "3. jeudi 6 mai 2027 à 18:00 (Europe/Paris)" in notice, notice
    assert "« oui non peut-être »" in notice
    stored = poll(bot)
    assert stored.kind == "when"
    assert (
        stored.settings is not None and stored.settings["slots"][0] == "2027-05-04T16:00:00+00:00"
    )
    message = stored.notice_event_id
    assert message is not None
    # refusals while it is open
    [early] = await bot.say(ORGANISER, "!événement depuis S1")
    assert "encore ouvert" in early
    await bot.deliver(reply(bot, "@bob:test", message, "non oui oui"))
    await bot.deliver(reply(bot, "@carol:test", message, "peut-être oui non"))
    await bot.deliver(reply(bot, "@dan:test", message, "oui non oui"))
    await bot.deliver(reply(bot, "@dan:test", message, "oui non non"))  # dan changes his mind
    bot.clock.set(START + timedelta(hours=1, seconds=1))
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    with bot.database.session() as session:
        result = PollRepository(session).get(1)
        assert result is not None and result.result is not None
        assert result.result["winners"] == ["a2"]
    [results] = [
        m["content"]["body"]
        for m in bot.sender.sent
        if "Résultats du sondage S1" in m["content"].get("body", "")
    ]
    assert (
        "2. mercredi 5 mai 2027 à 09:00 (Europe/Paris) — oui 2 · peut-être 0 · non 1 ★" in results
    ), results
    assert "1. mardi 4 mai 2027 à 18:00 (Europe/Paris) — oui 1 · peut-être 1 · non 1" in results
    assert "Meilleur créneau : mercredi 5 mai 2027 à 09:00 (Europe/Paris)" in results
    assert "!événement depuis S1" in results
    # a member may not; an organiser turns it into an event
    [refused] = await bot.say(AUTHOR, "!événement depuis S1")
    assert "organisateurs" in refused
    [announced] = await bot.say(ORGANISER, "!événement depuis S1")
    assert "Prochaine plénière" in announced and "mercredi 5 mai 2027 à 09:00" in announced
    with bot.database.session() as session:
        (item,) = session.exec(select(AgendaItem)).all()
    assert (item.title, item.starts_at) == (
        "Prochaine plénière",
        datetime(2027, 5, 5, 7, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!quand Plénière ; mardi 18h", "au moins deux créneaux"),
        ("!quand Plénière ; mardi 18h ; quand tu veux", "pas compris la date"),
        ("!quand Plénière ; mardi 18h ; 2027-05-04 18:00", "sont le même moment"),
        ("!quand Plénière ; mardi 18h ; jeudi 18h ; choix: 2", "Champ inconnu : « choix »"),
    ],
)
async def test_when_bad_input_is_refused_and_nothing_stored(bot: Harness, command, expected):
    [answer] = await bot.say(AUTHOR, command)
    assert expected in answer, answer
    with bot.database.session() as session:
        assert session.exec(select(Poll)).all() == []


async def test_event_from_a_poll_that_is_not_a_meeting_poll_or_has_no_yes(bot: Harness):
    await bot.say(AUTHOR, "!sondage Q ; a ; b")
    [answer] = await bot.say(ORGANISER, "!événement depuis S1")
    assert "Il n’y a pas de sondage de date S1 dans ce salon" in answer
    await bot.say(AUTHOR, "!quand Plénière ; mardi 18h ; jeudi 18h")
    await bot.say(AUTHOR, "!clore S2")
    [answer] = await bot.say(ORGANISER, "!event from S2")
    assert "personne n’a répondu oui" in answer
