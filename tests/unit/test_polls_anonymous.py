"""Anonymous polls (`anonyme: oui`): ballots asked with `!bulletin`, sent and answered by
direct message, changed until the close, results without names, and no voter–answer link left
in the database once closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from harness import ROOM, Harness
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from storage.poll_models import AnonymousBallot, Poll, PollBallot
from storage.polls import PollRepository

AUTHOR = "@alice:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def bot(bot: Harness) -> Harness:
    """The homeserver opens one direct room per person and everyone is in the poll's room."""

    async def create_direct_room(user_id: str, *, encrypted: bool) -> str:
        return f"!dm-{user_id.split(':')[0].lstrip('@')}:test"

    async def membership(room_id: str, user_id: str) -> str:
        return "join"

    bot.sender.create_direct_room = create_direct_room  # type: ignore[method-assign]
    bot.sender.membership = membership  # type: ignore[method-assign]
    return bot


def poll(bot: Harness) -> Poll:
    with bot.database.session() as session:
        found = PollRepository(session).get(1)
        assert found is not None
        return found


async def in_dm(bot: Harness, sender: str, body: str) -> list[dict]:
    room = f"!dm-{sender.split(':')[0].lstrip('@')}:test"
    return await bot.deliver(bot.message(sender, body), room_id=room)


async def test_anonymous_poll_ballots_by_dm_and_no_link_after_the_close(bot: Harness):
    [notice] = await bot.say(AUTHOR, "!sondage Qui préside ? ; Ana ; Bea ; anonyme: oui")
    assert notice.startswith("Sondage anonyme S1 lancé : Qui préside ?"), notice
    assert "!bulletin S1" in notice
    assert poll(bot).start_event_id is None  # no native poll: its answers would be public
    assert len(str(poll(bot).settings["secret"])) == 64  # type: ignore[index]

    for voter in ("@bob:test", "@carol:test"):
        sent = await bot.deliver(bot.message(voter, "!bulletin S1"))
        rooms = {item["room_id"] for item in sent}
        assert rooms == {ROOM, f"!dm-{voter[1:].split(':')[0]}:test"}
        ballot = next(item for item in sent if item["room_id"] != ROOM)["content"]["body"]
        assert "Votre bulletin pour le sondage anonyme S1" in ballot
        assert "le secret et les codes sont effacés" in ballot
    acknowledged = await in_dm(bot, "@bob:test", "S1 2")
    assert [a["content"]["m.relates_to"]["key"] for a in acknowledged] == ["🗳️"]
    await in_dm(bot, "@bob:test", "S1 1")  # bob changes his mind
    await in_dm(bot, "@carol:test", "s1 1")
    [bad] = [a["content"]["body"] for a in await in_dm(bot, "@carol:test", "S1 5")]
    assert "de 1 à 2" in bad
    # a ballot typed in the room, or a number emoji, is no anonymous vote
    await bot.say("@dan:test", "S1 2")
    notice_id = poll(bot).notice_event_id
    assert notice_id is not None
    await bot.deliver(bot.reaction("@dan:test", notice_id, "2\ufe0f\u20e3"))
    with bot.database.session() as session:
        keys = [row.voter_key for row in session.exec(select(AnonymousBallot))]
    assert len(keys) == 2 and all(keys)  # one per voter while open

    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "1️⃣ Ana — 2 votes (100 %)" in results and "2 votants" in results, results
    assert "@bob" not in results and "Bob" not in results
    with bot.database.session() as session:
        rows = list(session.exec(select(AnonymousBallot)))
        assert [(row.voter_key, row.selections) for row in rows] == [(None, ["a1"]), (None, ["a1"])]
        assert session.exec(select(PollBallot)).all() == []
    assert "secret" not in (poll(bot).settings or {})
    late = await in_dm(bot, "@dan:test", "S1 1")
    assert late == []  # dan never asked for a ballot: his DM room is not known


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("!sondage Q ; a ; b ; anonyme: peut-être", "n’est ni oui ni non"),
        ("!bulletin S9", "pas de sondage anonyme S9"),
    ],
)
async def test_anonymous_bad_input(bot: Harness, command, expected):
    [answer] = await bot.say(AUTHOR, command)
    assert expected in answer, answer


async def test_anonymous_poll_cancelled_keeps_no_link(bot: Harness):
    await bot.say(AUTHOR, "!sondage Qui ? ; Ana ; Bea ; anonyme: oui")
    await bot.say("@bob:test", "!bulletin S1")
    await in_dm(bot, "@bob:test", "S1 2")
    await bot.say(AUTHOR, "!annuler S1")
    with bot.database.session() as session:
        assert [row.voter_key for row in session.exec(select(AnonymousBallot))] == [None]
    assert "secret" not in (poll(bot).settings or {})


async def test_an_edited_ballot_replaces_the_earlier_one_and_is_acknowledged_on_it(
    bot: Harness,
):
    await bot.say(AUTHOR, "!sondage Qui ? ; Ana ; Bea ; anonyme: oui")
    await bot.say("@bob:test", "!bulletin S1")
    dm = "!dm-bob:test"
    typo = bot.message("@bob:test", "S1 5")
    [refused] = await bot.deliver(typo, room_id=dm)
    assert "de 1 à 2" in refused["content"]["body"]
    [acknowledged] = await bot.deliver(bot.edit("@bob:test", typo["event_id"], "S1 2"), room_id=dm)
    assert acknowledged["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": typo["event_id"],  # where clients show it
        "key": "🗳️",
    }
    # bob edits it once more: the new answer counts, the 🗳️ is not repeated
    assert await bot.deliver(bot.edit("@bob:test", typo["event_id"], "S1 1"), room_id=dm) == []
    # an edit that is no ballot, or in the public room, changes nothing
    await bot.deliver(bot.edit("@bob:test", typo["event_id"], "merci !"), room_id=dm)
    public = bot.message("@bob:test", "bonjour")
    await bot.deliver(public)
    await bot.deliver(bot.edit("@bob:test", public["event_id"], "S1 2"))

    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "1️⃣ Ana — 1 vote (100 %)" in results and "1 votant" in results, results


async def test_anonymous_ranked_poll_by_dm_and_public_replies_refused(bot: Harness):
    [notice] = await bot.say(
        AUTHOR, "!sondage Priorités ? ; jardin ; vélos ; four ; type: classement ; anonyme: oui"
    )
    assert "!bulletin S1" in notice and "répondez à ce message" not in notice, notice
    message = poll(bot).notice_event_id
    assert message is not None
    public = {
        "msgtype": "m.text",
        "body": "2 1",
        "m.relates_to": {"m.in_reply_to": {"event_id": message}},
    }
    [refused] = [
        a["content"]["body"]
        for a in await bot.deliver(bot.event("@bob:test", "m.room.message", public))
    ]
    assert "est anonyme : votre réponse n’a pas été comptée" in refused
    for voter, ranking in (
        ("@bob:test", "S1 3 1"),
        ("@carol:test", "S1 3"),
        ("@dan:test", "S1 1 3"),
    ):
        sent = await bot.deliver(bot.message(voter, "!bulletin S1"))
        ballot = next(item for item in sent if item["room_id"] != ROOM)["content"]["body"]
        assert "le préféré d’abord" in ballot
        await in_dm(bot, voter, ranking)
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "Tour 1 : jardin 1 · vélos 0 · four 2" in results, results
    assert "Réponse gagnante : four" in results
    with bot.database.session() as session:
        assert {row.voter_key for row in session.exec(select(AnonymousBallot))} == {None}
        assert session.exec(select(PollBallot)).all() == []


async def test_anonymous_meeting_poll_by_dm(bot: Harness):
    [notice] = await bot.say(AUTHOR, "!quand Plénière ; mardi 18h ; jeudi 18h ; anonyme: oui")
    assert "!bulletin S1" in notice and "répondez à ce message" not in notice, notice
    for voter, answer in (("@bob:test", "S1 non oui"), ("@carol:test", "S1 oui oui")):
        sent = await bot.deliver(bot.message(voter, "!bulletin S1"))
        ballot = next(item for item in sent if item["room_id"] != ROOM)["content"]["body"]
        assert "oui, peut-être ou non pour chaque créneau" in ballot
        await in_dm(bot, voter, answer)
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "oui 2 · peut-être 0 · non 0 ★" in results, results
    with bot.database.session() as session:
        assert {row.voter_key for row in session.exec(select(AnonymousBallot))} == {None}


async def test_anonymous_decision_by_dm_lists_objections_without_names(bot: Harness):
    [notice, *_] = await bot.say(AUTHOR, "!décision Pique-nique samedi ; anonyme: oui")
    assert "Anonyme : pour voter, tapez !bulletin S1" in notice, notice
    sent_reactions = [s for s in bot.sender.sent if s["type"] == "m.reaction"]
    assert sent_reactions == []  # no public answers to click
    message = poll(bot).notice_event_id
    assert message is not None
    public = {
        "msgtype": "m.text",
        "body": "je m'y oppose",
        "m.relates_to": {"m.in_reply_to": {"event_id": message}},
    }
    [refused] = [
        a["content"]["body"]
        for a in await bot.deliver(bot.event("@erin:test", "m.room.message", public))
    ]
    assert "est anonyme" in refused
    answers = (
        ("@bob:test", "S1 d’accord"),
        ("@carol:test", "S1 Objection Il va pleuvoir."),
        ("@dan:test", "S1 pas d'accord"),
    )
    for voter, answer in answers:
        await bot.deliver(bot.message(voter, "!bulletin S1"))
        acknowledged = await in_dm(bot, voter, answer)
        assert [a["content"]["m.relates_to"]["key"] for a in acknowledged] == ["🗳️"], answer
    [bad] = [a["content"]["body"] for a in await in_dm(bot, "@dan:test", "S1 peut-être")]
    assert "Répondez d’accord, abstention" in bad
    [result] = await bot.say(AUTHOR, "!clore S1")
    assert "✅ d’accord — 1" in result and "✋ objection — 1" in result, result
    assert "Non adoptée : 1 objection maintenue." in result
    assert "✋ Il va pleuvoir." in result and "Carol" not in result, result
    with bot.database.session() as session:
        assert {row.voter_key for row in session.exec(select(AnonymousBallot))} == {None}
