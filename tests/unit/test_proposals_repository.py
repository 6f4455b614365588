"""Proposals repository on a fresh SQLite: add, list by folded tags with synonyms, supports,
organisers' marks, edits and deletions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from storage.db import Database
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag
from storage.proposals import (
    OPEN,
    RETAINED,
    SET_ASIDE,
    SUPPORT,
    ProposalRepository,
    TagSpelling,
    stored_forms,
)

ROOM = "!room:example.org"
OTHER_ROOM = "!other:example.org"
START = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'concerto.db'}")
    db.migrate()
    yield db
    db.close()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.session() as session:
        yield session


def add(
    repo: ProposalRepository,
    n: int,
    tags: list[tuple[str, str]] = (),  # type: ignore[assignment]
    *,
    room: str = ROOM,
    author: str = "@alice:example.org",
) -> Proposal:
    return repo.add(
        room_id=room,
        event_id=f"$event{n}",
        author=author,
        text=f"Proposal number {n}",
        tags=[TagSpelling(display, folded) for display, folded in tags],
        source="message",
        created_at=START + timedelta(minutes=n),
    )


def test_proposals_add_gives_short_id_and_keeps_tags_in_order(session: Session) -> None:
    repo = ProposalRepository(session)
    proposal = add(repo, 1, [("Numérique", "numerique"), ("ESS", "ess")])
    assert proposal.short_id == f"P{proposal.id}"
    (view,) = repo.list(ROOM)
    assert view.short_id == proposal.short_id
    assert [tag.display for tag in view.tags] == ["Numérique", "ESS"]
    assert view.supports == 0 and view.status == OPEN
    assert repo.get(ROOM, proposal.id or 0) is proposal
    assert repo.get(OTHER_ROOM, proposal.id or 0) is None  # lookups check the room
    assert repo.get_by_event(ROOM, "$event1") is proposal


def test_proposals_list_newest_first_with_paging(session: Session) -> None:
    repo = ProposalRepository(session)
    for n in range(1, 13):
        add(repo, n)
    add(repo, 50, room=OTHER_ROOM)
    first = repo.list(ROOM, limit=10)
    assert [v.event_id for v in first][:2] == ["$event12", "$event11"]
    assert len(first) == 10
    second = repo.list(ROOM, offset=10, limit=10)
    assert [v.event_id for v in second] == ["$event2", "$event1"]
    assert repo.count(ROOM) == 12
    assert len(repo.list(None)) == 13


def test_proposals_list_by_folded_tag_with_synonyms(session: Session) -> None:
    repo = ProposalRepository(session)
    add(repo, 1, [("numérique", "numerique")])
    add(repo, 2, [("ESS", "ess")])
    add(repo, 3, [("économiesociale", "economiesociale")])
    add(repo, 4, [("climat", "climat")])
    synonyms = {"ess": "economiesociale"}

    by_digital = repo.list(ROOM, tags=["numerique"], synonyms=synonyms)
    assert [v.event_id for v in by_digital] == ["$event1"]
    # a synonym set after recording still groups the older "#ESS" proposal
    social = repo.list(ROOM, tags=["economiesociale"], synonyms=synonyms)
    assert [v.event_id for v in social] == ["$event3", "$event2"]
    either = repo.list(ROOM, tags=["numerique", "climat"], synonyms=synonyms)
    assert [v.event_id for v in either] == ["$event4", "$event1"]
    assert repo.list(ROOM, tags=["absent"], synonyms=synonyms) == []
    assert repo.count(ROOM, tags=["economiesociale"], synonyms=synonyms) == 2


def test_stored_forms_follow_one_level_synonyms() -> None:
    assert stored_forms("eco", {"ess": "eco"}) == {"ess", "eco"}
    assert stored_forms("eco", {}) == {"eco"}
    assert stored_forms("ess", {"ess": "eco"}) == set()


def test_proposals_supports_count_once_per_person(session: Session) -> None:
    repo = ProposalRepository(session)
    proposal = add(repo, 1)
    for reaction, user in [("$r1", "@bob:x"), ("$r2", "@bob:x"), ("$r3", "@carol:x")]:
        repo.add_reaction(
            proposal, reaction_event_id=reaction, user_id=user, kind=SUPPORT, at=START
        )
    repo.add_reaction(proposal, reaction_event_id="$r3", user_id="@carol:x", kind=SUPPORT, at=START)
    assert repo.list(ROOM)[0].supports == 2
    assert repo.delete_reaction("$r1") is True
    assert repo.list(ROOM)[0].supports == 2  # bob's other 👍 still counts
    assert repo.delete_reaction("$r2") is True
    assert repo.list(ROOM)[0].supports == 1
    assert repo.delete_reaction("$unknown") is False


def test_proposals_status_is_latest_mark_still_in_place(session: Session) -> None:
    repo = ProposalRepository(session)
    proposal = add(repo, 1)
    repo.add_reaction(proposal, reaction_event_id="$s1", user_id="@org:x", kind=RETAINED, at=START)
    assert repo.list(ROOM)[0].status == RETAINED
    later = START + timedelta(minutes=1)
    repo.add_reaction(proposal, reaction_event_id="$s2", user_id="@org:x", kind=SET_ASIDE, at=later)
    assert repo.list(ROOM)[0].status == SET_ASIDE
    repo.delete_reaction("$s2")
    assert repo.list(ROOM)[0].status == RETAINED
    repo.delete_reaction("$s1")
    assert repo.list(ROOM)[0].status == OPEN


def test_proposals_update_replaces_text_and_tags(session: Session) -> None:
    repo = ProposalRepository(session)
    proposal = add(repo, 1, [("numérique", "numerique")])
    repo.update(
        proposal,
        text="Edited #climat",
        tags=[TagSpelling("climat", "climat")],
        edited_at=START + timedelta(hours=1),
    )
    (view,) = repo.list(ROOM)
    assert view.text == "Edited #climat"
    assert [t.folded for t in view.tags] == ["climat"]
    assert view.edited_at == START + timedelta(hours=1)
    assert repo.list(ROOM, tags=["numerique"]) == []


def test_proposals_delete_forgets_text_tags_and_reactions(session: Session) -> None:
    repo = ProposalRepository(session)
    proposal = add(repo, 1, [("ess", "ess")])
    repo.add_reaction(proposal, reaction_event_id="$r", user_id="@bob:x", kind=SUPPORT, at=START)
    kept = add(repo, 2, [("ess", "ess")])
    repo.delete(proposal)
    assert [v.event_id for v in repo.list(ROOM)] == ["$event2"]
    assert session.exec(select(ProposalReaction)).all() == []
    assert [t.proposal_id for t in session.exec(select(ProposalTag))] == [kept.id]


def test_proposals_spellings_and_list_by_author(session: Session) -> None:
    repo = ProposalRepository(session)
    add(repo, 1, [("Numérique", "numerique")])
    add(repo, 2, [("numérique", "numerique")], author="@bob:x")
    add(repo, 3, [("numérique", "numerique")], room=OTHER_ROOM)
    assert [s.display for s in repo.spellings(ROOM)] == ["Numérique", "numérique"]
    assert [p.event_id for p in repo.list_by_author(ROOM, "@bob:x")] == ["$event2"]
