"""Ranked-choice and score polls: reading replies, instant-runoff (a published worked example
and an independent implementation on random ballots), averages and their tie rule, and the
flow through the unit kit."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from harness import Harness
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.runtime.clock import FrozenClock
from bot.text.errors import UserError
from handlers.polls.args import parse_poll_request
from handlers.polls.ranked import instant_runoff, read_ranking
from handlers.polls.scores import read_scores, score_result
from storage.models import OutboxMessage
from storage.poll_models import Poll, PollBallot
from storage.polls import PollRepository

AUTHOR = "@alice:test"
START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
IDS = ("a1", "a2", "a3", "a4")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


# --- reading replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ranking"),
    [
        ("2 1 3", ("a2", "a1", "a3")),
        ("2, 1, 3, 4", ("a2", "a1", "a3", "a4")),
        ("3 > 1", ("a3", "a1")),
        (" 4 ", ("a4",)),
    ],
)
def test_ranked_reads_a_ranking(text, ranking):
    assert read_ranking(text, IDS) == ranking


@pytest.mark.parametrize(
    ("text", "msgid_part"),
    [
        ("", "favourite first"),
        ("2 5", "not an option number"),
        ("1 b", "not an option"),
        ("2 1 2", "ranked twice"),
        ("0 1", "not an option number"),
    ],
)
def test_ranked_refuses_bad_rankings(text, msgid_part):
    with pytest.raises(UserError) as refused:
        read_ranking(text, IDS)
    assert msgid_part in refused.value.message.msgid


@pytest.mark.parametrize(
    ("text", "selections"),
    [
        ("4 2 5 0", ("a1:4", "a2:2", "a3:5", "a4:0")),
        ("1:4 3:5", ("a1:4", "a3:5")),
        ("1 : 4, 3=5", ("a1:4", "a3:5")),
        ("4:0", ("a4:0",)),
    ],
)
def test_scores_read_scores(text, selections):
    assert read_scores(text, IDS) == selections


@pytest.mark.parametrize(
    ("text", "msgid_part"),
    [
        ("", "Give a score"),
        ("4 2 5", "one score per option"),
        ("4 2 5 6", "from 0 to 5"),
        ("5:3", "There is no option"),
        ("1:3 1:4", "rated twice"),
        ("1:9", "from 0 to 5"),
        ("bien", "one score per option"),
    ],
)
def test_scores_refuse_bad_scores(text, msgid_part):
    with pytest.raises(UserError) as refused:
        read_scores(text, IDS)
    assert msgid_part in refused.value.message.msgid


def test_polls_parse_type_of_poll():
    now, tz = START, __import__("zoneinfo").ZoneInfo("Europe/Paris")
    assert (
        parse_poll_request("Q ; a ; b ; type: classement", now=now, tz=tz, language="fr").kind
        == "ranked"
    )
    assert (
        parse_poll_request("Q ; a ; b ; Type: Notes", now=now, tz=tz, language="fr").kind == "score"
    )
    assert (
        parse_poll_request("Q ; a ; b ; type: ranked", now=now, tz=tz, language="en").kind
        == "ranked"
    )
    for bad in (
        "Q ; a ; b ; type: loterie",
        "Q ; a ; b ; type: notes ; choix: 2",
        "Q ; a ; b ; type: notes ; résultats: à la fin",
    ):
        with pytest.raises(UserError):
            parse_poll_request(bad, now=now, tz=tz, language="fr")


# --- instant-runoff -----------------------------------------------------------------------


def test_ranked_tennessee_capital_worked_example():
    """The classic worked example (Wikipedia, "Instant-runoff voting": Tennessee's capital),
    100 voters in per cent: Memphis leads the first round, Knoxville wins in the third."""
    memphis, nashville, chattanooga, knoxville = "M", "N", "C", "K"
    ballots = (
        [(memphis, nashville, chattanooga, knoxville)] * 42
        + [(nashville, chattanooga, knoxville, memphis)] * 26
        + [(chattanooga, knoxville, nashville, memphis)] * 15
        + [(knoxville, chattanooga, nashville, memphis)] * 17
    )
    result = instant_runoff(["M", "N", "C", "K"], ballots)
    assert [dict(r.counts) for r in result.rounds] == [
        {"M": 42, "N": 26, "C": 15, "K": 17},
        {"M": 42, "N": 26, "K": 32},
        {"M": 42, "K": 58},
    ]
    assert [r.eliminated for r in result.rounds] == ["C", "N", None]
    assert result.winners == ("K",)


def test_ranked_tie_rules():
    # a1 and a2 tie for the fewest in round 2 (first choices 1 each)... a simple full tie:
    assert instant_runoff(IDS[:2], [("a1",), ("a2",)]).winners == ("a1", "a2")
    # fewest tied: fewer first choices goes (a3 had 1, a2 had 2 first choices)
    ballots = [("a1",)] * 3 + [("a2",)] * 2 + [("a3", "a2")] + [("a4", "a3")] * 1
    result = instant_runoff(IDS, ballots)
    assert result.rounds[0].eliminated in ("a3", "a4")
    # a3 and a4 both have 1 first choice: the one listed later (a4) goes first
    assert result.rounds[0].eliminated == "a4"
    assert result.rounds[1].counts["a3"] == 2 and result.rounds[1].eliminated == "a3"
    # a ballot whose options are all out is exhausted
    assert instant_runoff(IDS, []).winners == ()


def reference_irv(options: list[str], ballots: list[tuple[str, ...]]) -> tuple[str, ...]:
    """An independent, deliberately plain implementation of the stated rule."""
    firsts = Counter(b[0] for b in ballots if b)
    alive = set(options)
    while True:
        tally = Counter()
        live = 0
        for ballot in ballots:
            for choice in ballot:
                if choice in alive:
                    tally[choice] += 1
                    live += 1
                    break
        if not live:
            return ()
        for option in alive:
            if 2 * tally[option] > live:
                return (option,)
        values = {tally[o] for o in alive}
        if len(values) == 1:
            return tuple(o for o in options if o in alive)
        low = min(tally[o] for o in alive)
        candidates = [o for o in alive if tally[o] == low]
        low_first = min(firsts[o] for o in candidates)
        candidates = [o for o in candidates if firsts[o] == low_first]
        alive.remove(max(candidates, key=options.index))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=2, max_value=6).flatmap(
        lambda n: st.tuples(
            st.just([f"a{i}" for i in range(1, n + 1)]),
            st.lists(
                st.permutations([f"a{i}" for i in range(1, n + 1)]).flatmap(
                    lambda p: st.integers(min_value=1, max_value=len(p)).map(
                        lambda k, p=p: tuple(p[:k])
                    )
                ),
                max_size=25,
            ),
        )
    )
)
def test_ranked_matches_an_independent_implementation(case):
    options, ballots = case
    assert instant_runoff(options, ballots).winners == reference_irv(options, ballots)


# --- scores -------------------------------------------------------------------------------


def test_scores_averages_counts_and_tie_rule():
    result = score_result(
        IDS, [("a1:4", "a2:5"), ("a1:5", "a2:5", "a3:0"), ("a1:5",), ("a9:5", "a2:x")]
    )
    assert result.averages == {
        "a1": Fraction(14, 3),
        "a2": Fraction(5),
        "a3": Fraction(0),
        "a4": None,
    }
    assert dict(result.ratings) == {"a1": 3, "a2": 2, "a3": 1, "a4": 0}
    assert result.winners == ("a2",)
    assert result.voters == 3  # the last ballot rates nothing readable
    # equal averages: rated by more people wins; still equal: a tie
    assert score_result(IDS[:2], [("a1:4", "a2:4"), ("a1:4",)]).winners == ("a1",)
    assert score_result(IDS[:2], [("a1:4", "a2:4")]).winners == ("a1", "a2")


# --- through the kit -----------------------------------------------------------------------


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


async def test_ranked_poll_by_replies_with_rounds_in_the_results(bot: Harness):
    [notice] = await bot.say(
        AUTHOR, "!sondage Priorité ? ; jardin ; vélo ; four ; type: classement ; fin: dans 1 heure"
    )
    assert notice.startswith("Sondage S1 lancé (classement) : Priorité ?"), notice
    assert "1. jardin" in notice and "3. four" in notice
    assert "« 3 2 1 »" in notice
    message = poll(bot).notice_event_id
    assert message is not None and poll(bot).start_event_id is None  # no native poll
    acknowledged = await bot.deliver(reply(bot, "@bob:test", message, "1 2"))
    assert [a["content"]["m.relates_to"]["key"] for a in acknowledged] == ["🗳️"]
    await bot.deliver(reply(bot, "@carol:test", message, "2 1"))
    await bot.deliver(reply(bot, "@dan:test", message, "3 1"))
    # carol changes her mind; a number emoji is no vote here; a bad reply is explained
    await bot.deliver(reply(bot, "@carol:test", message, "3 2"))
    assert await bot.deliver(bot.reaction("@erin:test", message, "1\ufe0f\u20e3")) == []
    [bad] = [
        a["content"]["body"] for a in await bot.deliver(reply(bot, "@erin:test", message, "7"))
    ]
    assert "« 7 » n’est pas un numéro de choix" in bad
    await bot.deliver(reply(bot, "@erin:test", message, "2 3"))
    bot.clock.set(START + timedelta(hours=1, seconds=1))
    await bot.timers.fire_due()
    await bot.outbox.send_due()
    with bot.database.session() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.key == "pollresults:S1")).one()
    body = row.content["body"]
    # jardin and vélo tie for the fewest with one first choice each: vélo, listed later, goes
    assert "Tour 1 : jardin 1 · vélo 1 · four 2 → vélo éliminé" in body, body
    assert "Tour 2 : jardin 1 · four 3" in body, body
    assert "Règle : vote à second tour instantané" in body
    assert "4 votants" in body and "Réponse gagnante : four" in body, body
    with bot.database.session() as session:
        assert {b.source for b in session.exec(select(PollBallot))} == {"reply"}


async def test_score_poll_by_replies_with_averages(bot: Harness):
    await bot.say(AUTHOR, "!sondage Lieux ? ; mairie ; MJC ; type: notes")
    message = poll(bot).notice_event_id
    assert message is not None
    await bot.deliver(reply(bot, "@bob:test", message, "4 2"))
    await bot.deliver(reply(bot, "@carol:test", message, "2:5"))
    removed = reply(bot, "@dan:test", message, "0 0")
    await bot.deliver(removed)
    await bot.deliver(bot.redaction("@dan:test", removed["event_id"]))  # withdrawn
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "1. mairie — moyenne 4,0 (1 note) ★" in results, results
    assert "2. MJC — moyenne 3,5 (2 notes)\n" in results, results
    assert "Règle : la meilleure moyenne des notes de 0 à 5 l’emporte" in results
    assert "2 votants" in results and "Réponse gagnante : mairie" in results


async def test_edited_ballot_reply_counts_in_its_new_form(bot: Harness):
    await bot.say(AUTHOR, "!sondage Lieux ? ; mairie ; MJC ; type: notes")
    message = poll(bot).notice_event_id
    assert message is not None
    first = reply(bot, "@bob:test", message, "1 5")
    await bot.deliver(first)
    await bot.deliver(bot.edit("@bob:test", first["event_id"], "5 1"))
    [bad] = [
        a["content"]["body"]
        for a in await bot.deliver(bot.edit("@bob:test", first["event_id"], "très bien"))
    ]
    assert "une note par choix" in bad  # explained; the previous form stands
    await bot.deliver(bot.edit("@carol:test", first["event_id"], "0 0"))  # not hers: ignored
    [results] = await bot.say(AUTHOR, "!clore S1")
    assert "1. mairie — moyenne 5,0 (1 note) ★" in results, results
    # deleting the message withdraws the ballot, edits included
    await bot.say(AUTHOR, "!sondage Q ; a ; b ; type: notes")
    with bot.database.session() as session:
        second = PollRepository(session).get(2)
        assert second is not None and second.notice_event_id is not None
        target = second.notice_event_id
    ballot = reply(bot, "@bob:test", target, "3 3")
    await bot.deliver(ballot)
    await bot.deliver(bot.edit("@bob:test", ballot["event_id"], "4 4"))
    await bot.deliver(bot.redaction("@bob:test", ballot["event_id"]))
    [empty] = await bot.say(AUTHOR, "!clore S2")
    assert "Aucun vote." in empty, empty
