"""Decisions by consent against a real Synapse: three people vote by reaction on the bot's
message, one changes their vote, an objection is asked for and given its reason by reply,
and the decision closes at `fin:` with the rule and the objection in the result; a quorum
counted from the room's members; a poll whose results are shown at the close; ranked and score
polls voted by reply (a changed ranking, a bad reply explained); a meeting poll by reply whose
best slot becomes an event; a nudge mentioning exactly the non-voters once, not the opted-out;
a decision surviving a SIGKILL between its votes and its close; an anonymous poll voted by
direct message whose rows carry no voter identity after closing, and an anonymous decision."""

from __future__ import annotations

import sqlite3
from typing import Any

from matrix_people import joined, of_type, reaction_to, text


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


async def test_ranked_and_score_polls_voted_by_reply(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    carol = await member(make_person, organiser, room_id, "carol")

    asked = await organiser.send_text(
        room_id,
        "!sondage Nos priorités ? ; jardin ; vélos ; four ; type: classement ; "
        "fin: dans 30 secondes",
    )
    started = await organiser.wait_for(room_id, notice(bot.user_id, "Sondage S1"), after=asked)
    assert "Sondage S1 lancé (classement) : Nos priorités ?" in started["content"]["body"]
    message = started["event_id"]
    first = await alice.send_text(room_id, "1 2", reply_to=message)
    await alice.wait_for(room_id, reaction_to(first, "🗳️", sender=bot.user_id))
    await bob.send_text(room_id, "2 1", reply_to=message)
    bad = await carol.send_text(room_id, "jardin", reply_to=message)
    explained = await carol.wait_for(room_id, notice(bot.user_id, "« jardin »"), after=bad)
    assert "n’est pas un numéro de choix" in explained["content"]["body"]
    await carol.send_text(room_id, "3 2", reply_to=message)
    # bob changes his mind: his latest reply counts
    await bob.send_text(room_id, "3 1", reply_to=message)
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), timeout=60, after=asked
    )
    body = result["content"]["body"]
    # alice jardin, bob four, carol four: four has 2 of 3 in the first round
    assert "Tour 1 : jardin 1 · vélos 0 · four 2" in body, body
    assert "3 votants" in body and "Réponse gagnante : four" in body, body

    asked = await organiser.send_text(room_id, "!sondage Quel lieu ? ; mairie ; MJC ; type: notes")
    started = await organiser.wait_for(room_id, notice(bot.user_id, "Sondage S2"), after=asked)
    message = started["event_id"]
    await alice.send_text(room_id, "4 2", reply_to=message)
    await bob.send_text(room_id, "2:5", reply_to=message)
    last = await carol.send_text(room_id, "1:3 2:4", reply_to=message)
    await carol.wait_for(room_id, reaction_to(last, "🗳️", sender=bot.user_id))
    closing = await organiser.send_text(room_id, "!clore S2")
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S2"), after=closing
    )
    body = result["content"]["body"]
    assert "1. mairie — moyenne 3,5 (2 notes)" in body, body
    assert "2. MJC — moyenne 3,7 (3 notes) ★" in body, body
    assert "Réponse gagnante : MJC" in body, body


async def test_meeting_poll_by_reply_and_its_best_slot_made_an_event(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    carol = await member(make_person, organiser, room_id, "carol")

    asked = await organiser.send_text(
        room_id, "!quand Prochaine plénière ; après-demain 9h ; demain 18h"
    )
    started = await organiser.wait_for(
        room_id, notice(bot.user_id, "Sondage de date S1"), after=asked
    )
    body = started["content"]["body"]
    lines = [line for line in body.splitlines() if line[:3] in ("1. ", "2. ")]
    assert len(lines) == 2 and "18:00" in lines[0] and "09:00" in lines[1], body  # time order
    message = started["event_id"]
    await alice.send_text(room_id, "oui non", reply_to=message)
    await bob.send_text(room_id, "peut-être oui", reply_to=message)
    await carol.send_text(room_id, "non oui", reply_to=message)
    changed = await alice.send_text(room_id, "oui oui", reply_to=message)  # alice changes
    await alice.wait_for(room_id, reaction_to(changed, "🗳️", sender=bot.user_id))
    closing = await organiser.send_text(room_id, "!clore S1")
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), after=closing
    )
    body = result["content"]["body"]
    assert "oui 1 · peut-être 1 · non 1" in body and "oui 3 · peut-être 0 · non 0 ★" in body, body
    assert "Meilleur créneau : " in body and "!événement depuis S1" in body, body

    asked = await organiser.send_text(room_id, "!événement depuis S1")
    announced = await organiser.wait_for(
        room_id, notice(bot.user_id, "Prochaine plénière"), after=asked
    )
    assert "09:00" in announced["content"]["body"], announced["content"]["body"]
    assert stored(bot, "select title from agenda_item") == [("Prochaine plénière",)]


async def test_nudge_mentions_the_non_voters_once_not_the_opted_out(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    carol = await member(make_person, organiser, room_id, "carol")
    asked = await organiser.send_text(room_id, "!réglages relances on")
    await organiser.wait_for(room_id, notice(bot.user_id, "relances"), after=asked)
    asked = await carol.send_text(room_id, "!pas-de-relance")
    await carol.wait_for(room_id, notice(bot.user_id, "ne vous mentionneront plus"), after=asked)

    # closes in 24 hours and 40 seconds: the nudge is due in 40 seconds
    asked = await organiser.send_text(
        room_id, "!décision Pique-nique samedi ; fin: dans 86440 secondes"
    )
    proposed = await organiser.wait_for(room_id, notice(bot.user_id, "Décision S1"), after=asked)
    voted = await alice.react(room_id, proposed["event_id"], "✅")
    nudge = await bob.wait_for(
        room_id,
        text(sender=bot.user_id, contains="Pas encore répondu", msgtype="m.text"),
        timeout=90,
        after=voted,
    )
    assert nudge["content"]["m.mentions"] == {
        "user_ids": sorted([organiser.user_id, bob.user_id])
    }, nudge["content"]
    assert "La décision S1 « Pique-nique samedi » se clôt" in nudge["content"]["body"]
    assert stored(bot, "select count(*) from outbox_message where key like 'pollnudge:%'") == [(1,)]
    asked = await organiser.send_text(room_id, "!annuler S1")
    await organiser.wait_for(room_id, notice(bot.user_id, "annulé"), after=asked)


async def test_decision_survives_a_sigkill_between_votes_and_close(bot_room, make_person):
    bot, organiser, room_id = bot_room
    alice = await member(make_person, organiser, room_id, "alice")
    bob = await member(make_person, organiser, room_id, "bob")
    carol = await member(make_person, organiser, room_id, "carol")
    asked = await organiser.send_text(
        room_id, "!décision Pique-nique samedi ; fin: dans 40 secondes"
    )
    proposed = await organiser.wait_for(room_id, notice(bot.user_id, "Décision S1"), after=asked)
    message = proposed["event_id"]
    await alice.react(room_id, message, "✅")
    objection = await bob.react(room_id, message, "✋")
    await bob.wait_for(room_id, text(sender=bot.user_id, contains="vous objectez"), after=objection)

    await bot.kill()  # votes are stored; nothing in memory is needed to close
    await carol.react(room_id, message, "🤷")  # while the bot is down
    await bob.send_text(room_id, "Il va pleuvoir.", reply_to=message)
    bot.start()

    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultat de la décision S1"), timeout=90, after=asked
    )
    body = result["content"]["body"]
    assert "✅ d’accord — 1" in body and "🤷 abstention — 1" in body, body
    assert "✋ objection — 1" in body and "3 votants" in body, body
    assert body.rstrip().endswith(" : Il va pleuvoir."), body
    assert stored(bot, "select count(*) from outbox_message where key = 'pollresults:S1'") == [(1,)]


async def test_anonymous_poll_by_direct_message_keeps_no_voter_identity(
    bot_room, make_encrypted_person
):
    bot, organiser, room_id = bot_room
    voters = []
    for name in ("alice", "bob", "carol"):  # their clients read the encrypted direct rooms
        person = await make_encrypted_person(name)
        await organiser.invite(room_id, person.user_id)
        await person.join(room_id)
        await person.wait_for(room_id, joined(person.user_id), timeout=30)
        voters.append(person)
    alice, bob, carol = voters
    asked = await organiser.send_text(room_id, "!sondage Qui préside ? ; Ana ; Bea ; anonyme: oui")
    started = await organiser.wait_for(
        room_id, notice(bot.user_id, "Sondage anonyme S1"), after=asked
    )
    assert "!bulletin S1" in started["content"]["body"]

    for person, choice in ((alice, "S1 2"), (bob, "S1 5"), (carol, "S1 1")):
        asked = await person.send_text(room_id, "!bulletin S1")
        await person.wait_for(room_id, notice(bot.user_id, "message direct"), after=asked)
        direct = await person.wait_for_invite(timeout=30)
        await person.join(direct)
        await person.wait_for(direct, notice(bot.user_id, "Votre bulletin"), timeout=30)
        answered = await person.send_text(direct, choice)
        if person is bob:  # a typo, answered; bob corrects his message
            await person.wait_for(direct, notice(bot.user_id, "de 1 à 2"), after=answered)
            await person.edit(direct, answered, "S1 1")
        await person.wait_for(direct, reaction_to(answered, "🗳️", sender=bot.user_id))
        if person is alice:  # alice changes her mind
            answered = await person.send_text(direct, "S1 1")
            await person.wait_for(direct, reaction_to(answered, "🗳️", sender=bot.user_id))

    closing = await organiser.send_text(room_id, "!clore S1")
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultats du sondage S1"), after=closing
    )
    body = result["content"]["body"]
    assert "1️⃣ Ana — 3 votes (100 %)" in body and "3 votants" in body, body
    for person in (alice, bob, carol):
        assert person.user_id not in body
    assert stored(bot, "select voter_key, selections from anonymous_ballot") == [
        (None, '["a1"]'),
        (None, '["a1"]'),
        (None, '["a1"]'),
    ]
    assert stored(bot, "select count(*) from poll_ballot") == [(0,)]
    assert "secret" not in stored(bot, "select settings from poll")[0][0]


async def test_anonymous_decision_by_direct_message_lists_the_reason_without_a_name(
    bot_room, make_encrypted_person
):
    bot, organiser, room_id = bot_room
    voters = []
    for name in ("alice", "bob"):
        person = await make_encrypted_person(name)
        await organiser.invite(room_id, person.user_id)
        await person.join(room_id)
        await person.wait_for(room_id, joined(person.user_id), timeout=30)
        voters.append(person)
    asked = await organiser.send_text(room_id, "!décision Pique-nique samedi ; anonyme: oui")
    await organiser.wait_for(room_id, notice(bot.user_id, "Anonyme : pour voter"), after=asked)
    for person, answer in zip(voters, ("S1 d'accord", "S1 objection Il va pleuvoir."), strict=True):
        asked = await person.send_text(room_id, "!bulletin S1")
        await person.wait_for(room_id, notice(bot.user_id, "message direct"), after=asked)
        direct = await person.wait_for_invite(timeout=30)
        await person.join(direct)
        await person.wait_for(direct, notice(bot.user_id, "Votre bulletin"), timeout=30)
        answered = await person.send_text(direct, answer)
        await person.wait_for(direct, reaction_to(answered, "🗳️", sender=bot.user_id))
    closing = await organiser.send_text(room_id, "!clore S1")
    result = await organiser.wait_for(
        room_id, notice(bot.user_id, "Résultat de la décision S1"), after=closing
    )
    body = result["content"]["body"]
    assert "Non adoptée : 1 objection maintenue." in body and "✋ Il va pleuvoir." in body, body
    assert "alice" not in body.lower() and "bob" not in body.lower(), body
    assert stored(bot, "select count(*) from anonymous_ballot where voter_key is not null") == [
        (0,)
    ]
