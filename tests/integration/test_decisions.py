"""Decisions by consent against a real Synapse: three people vote by reaction on the bot's
message, one changes their vote, an objection is asked for and given its reason by reply,
and the decision closes at `fin:` with the rule and the objection in the result; a quorum
counted from the room's members; a poll whose results are shown at the close."""

from __future__ import annotations

import sqlite3
from typing import Any

from matrix_people import of_type, reaction_to, text


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


async def test_decisions_consent_voted_by_reaction_closes_at_end_with_the_objection(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    carol = await member(make_person, organiser, room_id, "carol")

    asked = await organiser.send_text(
        room_id, "!décision On adopte la charte du collectif ; fin: dans 30 secondes"
    )
    proposed = await organiser.wait_for(room_id, notice(bot.user_id, "Décision S1"), after=asked)
    body = proposed["content"]["body"]
    assert body.startswith("Décision S1 proposée : On adopte la charte du collectif"), body
    assert "Règle : adoptée sauf si une objection est maintenue à la clôture." in body
    message = proposed["event_id"]
    # the four answers are under the message, one click away
    for key in ("✅", "🤷", "👎", "✋"):
        await organiser.wait_for(room_id, reaction_to(message, key, sender=bot.user_id))

    await alice.react(room_id, message, "✅")
    objection = await bob.react(room_id, message, "✋")
    ask = await bob.wait_for(
        room_id,
        text(sender=bot.user_id, contains="vous objectez à la décision S1"),
        after=objection,
    )
    assert ask["content"]["m.mentions"] == {"user_ids": [bob.user_id]}
    reason = await bob.send_text(room_id, "L'article 3 contredit nos statuts.", reply_to=message)
    await bob.wait_for(room_id, reaction_to(reason, "📝", sender=bot.user_id))
    # carol objects, then changes her mind: she removes ✋ and abstains
    first = await carol.react(room_id, message, "✋")
    await carol.redact(room_id, first)
    await carol.react(room_id, message, "🤷")

    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultat de la décision S1"), timeout=60, after=asked
    )
    body = result["content"]["body"]
    assert "✅ d’accord — 1" in body and "🤷 abstention — 1" in body, body
    assert "👎 pas d’accord — 0" in body and "✋ objection — 1" in body, body
    assert "3 votants" in body, body
    assert "Non adoptée : 1 objection maintenue." in body, body
    objection_lines = [
        line for line in body.splitlines() if line.startswith("✋ ") and " : " in line
    ]
    assert len(objection_lines) == 1 and objection_lines[0].endswith(
        " : L'article 3 contredit nos statuts."
    ), body
    assert result["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == message
    assert stored(bot, "select kind, status from poll") == [("consent", "closed")]
    assert stored(bot, "select voter, text from poll_reason") == [
        (bob.user_id, "L'article 3 contredit nos statuts.")
    ]


async def test_decisions_bad_input_is_refused_and_nothing_stored(bot_room):
    bot, organiser, room_id = bot_room
    cases = [
        ("!décision", "Écrivez la décision à prendre"),
        ("!décision On adopte ; fni: demain", "Champs possibles ici : fin (end)"),
        ("!décision On adopte ; et on fête ça", "Une décision est un seul texte"),
    ]
    for command, expected in cases:
        asked = await organiser.send_text(room_id, command)
        reply = await organiser.wait_for(room_id, notice(bot.user_id, ""), after=asked)
        assert expected in reply["content"]["body"], (command, reply["content"]["body"])
        assert "Utilisation : !décision" in reply["content"]["body"]
    assert stored(bot, "select count(*) from poll") == [(0,)]


async def test_decisions_quorum_counts_the_room_members_and_hidden_poll_results(
    bot_room, make_person
):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    await member(make_person, organiser, room_id, "bob")  # a member who does not answer
    # 3 people besides the bot: 67% needs 3 answers (2.01 rounded up)
    asked = await organiser.send_text(room_id, "!décision Pique-nique samedi ; quorum: 67%")
    proposed = await organiser.wait_for(room_id, notice(bot.user_id, "Décision S1"), after=asked)
    assert "Quorum : 67 % des membres du salon doivent répondre" in proposed["content"]["body"]
    message = proposed["event_id"]
    await alice.react(room_id, message, "✅")
    await organiser.react(room_id, message, "✅")
    closing = await organiser.send_text(room_id, "!clore S1")
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultat de la décision S1"), after=closing
    )
    body = result["content"]["body"]
    assert "Quorum non atteint : 2 réponses, 3 requises (67 % des 3 membres du salon)." in body, (
        body
    )
    assert "Non adoptée : le quorum n’est pas atteint." in body, body

    asked = await organiser.send_text(room_id, "!sondage Pizza ? ; oui ; non ; résultats: à la fin")
    start = await organiser.wait_for(
        room_id, of_type("org.matrix.msc3381.poll.start", sender=bot.user_id), after=asked
    )
    kind = start["content"]["org.matrix.msc3381.poll.start"]["kind"]
    assert kind == "org.matrix.msc3381.poll.undisclosed"
