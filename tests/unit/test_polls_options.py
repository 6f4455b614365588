"""Options on polls and decisions: `quorum:` (checked against the room's members at the close)
and `résultats: à la fin` (results shown at the close only), through the unit kit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from harness import BOT, ROOM, Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from handlers.polls.events import NUMBER_EMOJI
from handlers.polls.quorum import Quorum
from storage.models import OutboxMessage
from storage.poll_models import Poll
from storage.polls import PollRepository

AUTHOR = "@alice:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
MEMBERS = [BOT, AUTHOR, "@bob:test", "@carol:test", "@dan:test", "@erin:test"]  # 5 people


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def poll(bot: Harness, poll_id: int = 1) -> Poll:
    with bot.database.session() as session:
        found = PollRepository(session).get(poll_id)
        assert found is not None
        return found


def sent(bot: Harness, key: str) -> OutboxMessage:
    with bot.database.session() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()
        assert row is not None, key
        return row


@pytest.mark.parametrize(
    ("percent", "members", "voters", "needed", "reached"),
    [
        (50, 5, 2, 3, False),  # rounded up: half of 5 is 3
        (50, 5, 3, 3, True),
        (50, 4, 2, 2, True),
        (100, 3, 3, 3, True),
        (1, 0, 0, 1, False),  # an empty room never reaches a quorum
        (30, None, 2, None, None),  # members unknown: not checked
    ],
)
def test_polls_quorum_needed_and_reached(percent, members, voters, needed, reached):
    quorum = Quorum(percent, members, voters)
    assert (quorum.needed, quorum.reached) == (needed, reached)


async def test_polls_quorum_not_reached_is_stated_with_the_figures(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS
    notice = (await bot.say(AUTHOR, "!sondage Q ; a ; b ; quorum: 50%"))[-1]
    assert "Quorum : 50 % des membres du salon doivent répondre." in notice
    start = poll(bot).start_event_id
    assert start is not None
    await bot.deliver(bot.reaction("@bob:test", start, NUMBER_EMOJI[0]))
    await bot.deliver(bot.reaction("@carol:test", start, NUMBER_EMOJI[0]))
    results = (await bot.say(AUTHOR, "!clore S1"))[-1]  # after the poll end event
    assert (
        "Quorum non atteint : 2 réponses, 3 requises (50 % des 5 membres du salon)." in results
    ), results
    assert "Réponse gagnante : a" in results
    assert poll(bot).result["quorum"] == {  # type: ignore[index]
        "percent": 50,
        "members": 5,
        "voters": 2,
        "needed": 3,
        "reached": False,
    }


async def test_polls_quorum_reached_for_a_decision_adopts_it(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS[:5]  # 4 people: 2 needed
    [notice, *_] = await bot.say(AUTHOR, "!décision Pique-nique ; quorum: 50%")
    assert "Quorum : 50 % des membres du salon doivent répondre, sinon rien n’est adopté." in notice
    message = poll(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    await bot.deliver(bot.reaction("@carol:test", message, "🤷"))  # abstaining takes part
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "Quorum atteint : 2 réponses, 2 requises (50 % des 4 membres du salon)." in results
    assert "Sans le quorum, rien n’est adopté." in results
    assert "Adoptée : aucune objection n’est maintenue." in results


async def test_polls_quorum_not_reached_for_a_decision_adopts_nothing(bot: Harness):
    bot.sender.members[ROOM] = MEMBERS
    await bot.say(AUTHOR, "!décision Pique-nique ; quorum: 60%")
    message = poll(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "Quorum non atteint : 1 réponses, 3 requises" in results
    assert "Non adoptée : le quorum n’est pas atteint." in results
    assert poll(bot).result["outcome"] == "no_quorum"  # type: ignore[index]


async def test_polls_quorum_unknown_members_is_said_and_does_not_block(bot: Harness):
    async def unreachable(room_id: str) -> list[str]:
        raise ConnectionError("homeserver down")

    bot.sender.joined_member_ids = unreachable  # type: ignore[method-assign]
    await bot.say(AUTHOR, "!décision Pique-nique ; quorum: 50%")
    message = poll(bot).notice_event_id
    assert message is not None
    await bot.deliver(bot.reaction("@bob:test", message, "✅"))
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "Quorum de 50 % : pas vérifié" in results
    assert "Adoptée" in results


async def test_polls_results_at_the_end_start_an_undisclosed_poll(bot: Harness):
    notice = (await bot.say(AUTHOR, "!sondage Q ; a ; b ; résultats: à la fin"))[-1]
    assert "Les résultats sont montrés à la clôture." in notice
    start = sent(bot, "poll:S1:start").content["org.matrix.msc3381.poll.start"]
    assert start["kind"] == "org.matrix.msc3381.poll.undisclosed"
    assert poll(bot).settings == {"results": "end"}
    await bot.say(AUTHOR, "!sondage Q2 ; a ; b")
    second = sent(bot, "poll:S2:start").content["org.matrix.msc3381.poll.start"]
    assert second["kind"] == "org.matrix.msc3381.poll.disclosed"


async def test_polls_decision_refuses_hidden_results_saying_why(bot: Harness):
    [answer] = await bot.say(AUTHOR, "!décision Pique-nique ; résultats: à la fin")
    assert "Une décision se vote par réactions, que tout le salon voit" in answer
    with bot.database.session() as session:
        assert session.exec(select(Poll)).all() == []
