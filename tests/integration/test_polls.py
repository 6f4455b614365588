"""Polls against a real Synapse: native votes, number-emoji reactions, closing on time or by
`!clore`, a person's own client poll, votes cast while the bot was down, and bad input
(a malformed `!clore` answered with its usage), a vote cast in the poll's last seconds."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from matrix_people import of_type, reply_to, text

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
ONE, TWO, THREE = "1\ufe0f\u20e3", "2\ufe0f\u20e3", "3\ufe0f\u20e3"


def response(poll_event_id: str, *answers: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        POLL_RESPONSE: {"answers": list(answers)},
    }


def stable_response(poll_event_id: str, *answers: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        "m.selections": list(answers),
    }


def notice(bot_id: str, contains: str):
    return text(sender=bot_id, contains=contains, msgtype="m.notice")


async def member(make_person, organiser, room_id, name):
    person = await make_person(name)
    await organiser.invite(room_id, person.user_id)
    await person.join(room_id)
    return person


def stored(bot, query: str) -> list[tuple[Any, ...]]:
    path = bot.directory / "data" / "concerto.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return connection.execute(query).fetchall()


async def test_polls_native_and_emoji_votes_close_on_time(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")

    asked = await organiser.send_text(
        room_id,
        "!sondage Quel jour pour l'atelier ? ; mardi ; jeudi ; vendredi ; fin: dans 25 secondes",
    )
    start = await organiser.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), after=asked)
    confirmation = await organiser.wait_for(room_id, notice(bot.user_id, "Sondage S1"), after=asked)
    assert "Sondage S1 lancé : Quel jour pour l'atelier ?" in confirmation["content"]["body"]
    assert "Clôture :" in confirmation["content"]["body"]
    block = start["content"][POLL_START]
    assert [a["org.matrix.msc1767.text"] for a in block["answers"]] == [
        "mardi",
        "jeudi",
        "vendredi",
    ]
    ids = [a["id"] for a in block["answers"]]
    poll = start["event_id"]

    # alice votes natively, then changes her mind (stable type): jeudi
    await alice.send_event(room_id, POLL_RESPONSE, response(poll, ids[0]))
    await alice.send_event(room_id, "m.poll.response", stable_response(poll, ids[1]))
    # bob reacts 1️⃣ on the poll, removes it, then reacts 3️⃣ on the notice: vendredi
    first = await bob.react(room_id, poll, ONE)
    await bob.redact(room_id, first)
    await bob.react(room_id, confirmation["event_id"], THREE)
    # the organiser votes natively then by reaction: the reaction (latest) counts: jeudi
    await organiser.send_event(room_id, POLL_RESPONSE, response(poll, ids[2]))
    last = await organiser.react(room_id, poll, TWO)

    results = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), timeout=60, after=last
    )
    body = results["content"]["body"]
    assert "1️⃣ mardi — 0 vote (0 %)" in body
    assert "2️⃣ jeudi — 2 votes (67 %)" in body
    assert "3️⃣ vendredi — 1 vote (33 %)" in body
    assert "3 votants" in body
    assert "Réponse gagnante : jeudi" in body
    assert "<strong>jeudi</strong>" in results["content"]["formatted_body"]
    end = await organiser.wait_for(room_id, of_type(POLL_END, sender=bot.user_id), after=last)
    assert end["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll}
    assert "jeudi" in end["content"]["org.matrix.msc1767.text"]


async def test_polls_a_vote_cast_in_the_last_seconds_is_counted(bot_room, make_person):
    """The bot reads what the homeserver holds at a poll's end before counting: a vote that
    reached the homeserver just before the end, while the bot was busy (here: suspended),
    counts. Without that, the closing timer and the sync wake together and the timer wins."""
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    asked = await organiser.send_text(
        room_id, "!sondage Pause ? ; oui ; non ; fin: dans 20 secondes"
    )
    start = await organiser.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), after=asked)
    poll = start["event_id"]
    yes, no = (answer["id"] for answer in start["content"][POLL_START]["answers"])
    await alice.send_event(room_id, POLL_RESPONSE, response(poll, yes))
    fence = await alice.send_text(room_id, "!aide sondage")  # read in order: her vote first
    await alice.wait_for(room_id, reply_to(bot.user_id, fence))
    [(due_at,)] = stored(bot, "SELECT due_at FROM scheduled_task WHERE key = 'poll_close:S1'")
    end = datetime.fromisoformat(due_at).replace(tzinfo=UTC).timestamp()

    with bot.frozen():
        last = await bob.send_event(room_id, POLL_RESPONSE, response(poll, no))
        # The end must pass while the bot is suspended: a wait for the clock, not the bot.
        await asyncio.sleep(max(0.0, end - time.time()) + 1)

    results = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), timeout=60, after=last
    )
    body = results["content"]["body"]
    assert "2 votants" in body, body
    assert "1️⃣ oui — 1 vote (50 %)" in body and "2️⃣ non — 1 vote (50 %)" in body, body
    cast = await bob.wait_for(room_id, lambda event: event.get("event_id") == last)
    assert cast["origin_server_ts"] / 1000 < end  # cast before the end, truly


async def test_polls_close_command_permissions_and_twice(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")

    asked = await alice.send_text(room_id, "!poll Pizza ou crêpes ? ; pizza ; crêpes ; choix: 2")
    start = await alice.wait_for(room_id, of_type(POLL_START, sender=bot.user_id), after=asked)
    await alice.wait_for(room_id, notice(bot.user_id, "Sondage S1"), after=asked)
    assert start["content"][POLL_START]["max_selections"] == 2
    poll, ids = start["event_id"], [a["id"] for a in start["content"][POLL_START]["answers"]]

    await bob.send_event(room_id, POLL_RESPONSE, response(poll, ids[0], ids[1]))
    await alice.send_event(room_id, POLL_RESPONSE, response(poll, ids[1]))

    refused = await bob.send_text(room_id, "!clore S1")
    reply = await bob.wait_for(room_id, notice(bot.user_id, ""), after=refused)
    assert "Seuls l’auteur du sondage S1 et les organisateurs" in reply["content"]["body"]

    closed = await alice.send_text(room_id, "!clore S1")
    results = await alice.wait_for(room_id, notice(bot.user_id, "Résultats"), after=closed)
    body = results["content"]["body"]
    assert "pizza — 1 vote (33 %)" in body and "crêpes — 2 votes (67 %)" in body
    assert "2 votants" in body
    assert results["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == closed
    await alice.wait_for(room_id, of_type(POLL_END, sender=bot.user_id), after=closed)

    # a vote after the close is ignored by a recomputation; closing twice gets a clear reply
    await bob.send_event(room_id, POLL_RESPONSE, response(poll, ids[0]))
    again = await organiser.send_text(room_id, "!close S1")
    reply = await organiser.wait_for(room_id, notice(bot.user_id, ""), after=again)
    assert "Le sondage S1 est déjà clos" in reply["content"]["body"]
    rows = stored(bot, "select status, closed_by, result from poll")
    assert rows[0][0] == "closed" and rows[0][1] == alice.user_id
    assert '"counts": {"a1": 1, "a2": 2}' in rows[0][2]


def client_poll(question: str) -> dict[str, Any]:
    """A poll start as Element sends it (its own answer IDs, a text fallback)."""
    return {
        "org.matrix.msc1767.text": f"{question}\n1. Café\n2. Thé",
        POLL_START: {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": question},
            "answers": [
                {"id": "x7Fq", "org.matrix.msc1767.text": "Café"},
                {"id": "p0Zt", "org.matrix.msc1767.text": "Thé"},
            ],
        },
    }


def end_of(bot_id: str, poll_event_id: str):
    def match(event: dict[str, Any]) -> bool:
        relation = (event.get("content") or {}).get("m.relates_to") or {}
        return (
            event.get("type") == POLL_END
            and event.get("sender") == bot_id
            and relation.get("event_id") == poll_event_id
        )

    return match


async def test_polls_client_poll_counts_votes_cast_while_bot_down(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")

    poll = await alice.send_event(room_id, POLL_START, client_poll("Café ou thé ?"))
    recognised = await alice.wait_for(room_id, notice(bot.user_id, "Sondage S1"), after=poll)
    assert "Sondage S1 enregistré : Café ou thé ?" in recognised["content"]["body"]
    await bob.send_event(room_id, POLL_RESPONSE, response(poll, "x7Fq"))

    await bot.stop()
    await organiser.send_event(room_id, POLL_RESPONSE, response(poll, "p0Zt"))
    await bob.react(room_id, poll, TWO)  # bob changes his mind while the bot is down
    bot.start()

    ended = await alice.send_event(
        room_id,
        POLL_END,
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
            "org.matrix.msc1767.text": "Fin du sondage",
            POLL_END: {},
        },
    )
    results = await alice.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), timeout=60, after=ended
    )
    body = results["content"]["body"]
    assert "Thé — 2 votes (100 %)" in body and "Café — 0 vote (0 %)" in body
    assert "Réponse gagnante : Thé" in body
    rows = stored(bot, "select origin, author, status from poll")
    assert rows == [("client", alice.user_id, "closed")]


async def test_polls_bad_input_is_refused_and_nothing_stored(bot_room):
    bot, organiser, room_id = bot_room
    cases = [
        ("!sondage Pizza ? ; oui", "au moins 2 choix"),
        ("!sondage Q ; " + " ; ".join(f"o{n}" for n in range(21)), "au plus 20 choix"),
        ("!sondage Q ; Mardi ; jeudi ; mardi", "donné deux fois"),
        ("!sondage Q ; a ; b ; fin: 2001-01-01 10:00", "est déjà passé"),
        ("!sondage Q ; a ; b ; fin: quand tu veux", "pas compris la date"),
        ("!sondage Q ; a ; b ; choix: 3", "nombre de 1 à 2"),
        # a typo of fin: is refused with the known keys, not taken as a third answer
        ("!sondage Q ; a ; b ; fni: demain", "Champs possibles ici : fin (end), choix (choices)"),
        ("!clore S42", "pas de sondage S42"),
    ]
    for command, expected in cases:
        asked = await organiser.send_text(room_id, command)
        reply = await organiser.wait_for(room_id, notice(bot.user_id, ""), after=asked)
        assert expected in reply["content"]["body"], (command, reply["content"]["body"])
    assert stored(bot, "select count(*) from poll") == [(0,)]
    assert stored(
        bot, f"select count(*) from outbox_message where event_type = '{POLL_START}'"
    ) == [(0,)]
    assert stored(bot, "select count(*) from scheduled_task where kind = 'poll_close'") == [(0,)]


async def test_polls_clore_with_a_malformed_id_is_answered_with_its_usage(bot_room):
    bot, organiser, room_id = bot_room
    asked = await organiser.send_text(room_id, "!clore le-sondage")
    reply = await organiser.wait_for(room_id, notice(bot.user_id, ""), after=asked)
    body = reply["content"]["body"]
    assert body == (
        "Donnez l’identifiant du sondage, par exemple : !clore S2.\n"
        "Utilisation : !clore <identifiant du sondage>"
    ), body
    # an ID that reads well but names no poll is refused without the usage
    asked = await organiser.send_text(room_id, "!clore S42")
    reply = await organiser.wait_for(room_id, notice(bot.user_id, ""), after=asked)
    body = reply["content"]["body"]
    assert "pas de sondage S42" in body and "Utilisation" not in body, body
    assert stored(bot, "select count(*) from poll") == [(0,)]


async def test_polls_clore_ends_a_client_poll_in_apps_only_when_the_bot_may_redact(
    bot_room, make_person
):
    """MSC3381: apps accept a poll's end from its creator or from someone who may redact it."""
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")

    first = await alice.send_event(room_id, POLL_START, client_poll("Café ou thé ?"))
    await alice.wait_for(room_id, notice(bot.user_id, "Sondage S1"), after=first)
    asked = await organiser.send_text(room_id, "!clore S1")
    await alice.wait_for(room_id, notice(bot.user_id, "Résultats du sondage S1"), after=asked)
    await alice.assert_no_event(room_id, end_of(bot.user_id, first), after=asked)

    await organiser.set_power_level(room_id, bot.user_id, 50)  # may now remove messages
    second = await alice.send_event(room_id, POLL_START, client_poll("Thé ou café ?"))
    await alice.wait_for(room_id, notice(bot.user_id, "Sondage S2"), after=second)
    asked = await organiser.send_text(room_id, "!clore S2")
    ended = await alice.wait_for(room_id, end_of(bot.user_id, second), after=asked)
    assert ended["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": second}
    await alice.wait_for(room_id, notice(bot.user_id, "Résultats du sondage S2"), after=asked)
