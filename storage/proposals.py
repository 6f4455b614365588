"""Proposals repository: record, find, edit, delete proposals; count supports; read status."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from storage.privacy_models import PrivacyErasedProposal
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag

SUPPORT = "support"
RETAINED = "retained"
SET_ASIDE = "set_aside"
OPEN = "open"
STATUS_KINDS = (RETAINED, SET_ASIDE)


@dataclass(frozen=True)
class TagSpelling:
    """A tag as written on a proposal and its folded form (synonyms of the time applied)."""

    display: str
    folded: str


@dataclass(frozen=True)
class ProposalView:
    """A proposal with what listings, digests and exports show."""

    id: int
    room_id: str
    event_id: str
    author: str
    text: str
    created_at: datetime
    edited_at: datetime | None
    tags: tuple[TagSpelling, ...]
    supports: int
    status: str

    @property
    def short_id(self) -> str:
        return f"P{self.id}"


def stored_forms(canonical: str, synonyms: Mapping[str, str]) -> set[str]:
    """Every stored folded tag that means ``canonical`` under the current synonyms."""
    forms = {alias for alias, target in synonyms.items() if target == canonical}
    if canonical not in synonyms:  # a folded tag that is itself an alias means its target
        forms.add(canonical)
    return forms


class ProposalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- proposals ------------------------------------------------------------------------

    def add(
        self,
        *,
        room_id: str,
        event_id: str,
        author: str,
        text: str,
        tags: Sequence[TagSpelling],
        source: str,
        created_at: datetime,
        thread_root: str | None = None,
    ) -> Proposal:
        proposal = Proposal(
            room_id=room_id,
            event_id=event_id,
            thread_root=thread_root,
            author=author,
            text=text,
            source=source,
            created_at=created_at,
        )
        self.session.add(proposal)
        self.session.flush()
        self._set_tags(proposal, tags)
        return proposal

    def get(self, room_id: str, proposal_id: int) -> Proposal | None:
        """The proposal with this number, only if it belongs to ``room_id``."""
        proposal = self.session.get(Proposal, proposal_id)
        return proposal if proposal is not None and proposal.room_id == room_id else None

    def get_by_event(self, room_id: str, event_id: str) -> Proposal | None:
        statement = select(Proposal).where(
            Proposal.room_id == room_id, Proposal.event_id == event_id
        )
        return self.session.exec(statement).first()

    def list_authors_since(self, room_id: str, since: datetime) -> set[str]:
        """Who posted a proposal in the room since ``since`` (deadline nudges)."""
        statement = select(Proposal.author).where(
            Proposal.room_id == room_id, col(Proposal.created_at) >= since
        )
        return set(self.session.exec(statement))

    def list_by_author(self, room_id: str, author: str) -> list[Proposal]:
        statement = select(Proposal).where(Proposal.room_id == room_id, Proposal.author == author)
        return list(self.session.exec(statement))

    def update(
        self, proposal: Proposal, *, text: str, tags: Sequence[TagSpelling], edited_at: datetime
    ) -> None:
        proposal.text = text
        proposal.edited_at = edited_at
        self.session.add(proposal)
        self.session.exec(delete(ProposalTag).where(col(ProposalTag.proposal_id) == proposal.id))
        self._set_tags(proposal, tags)

    def delete(self, proposal: Proposal) -> None:
        """Forget the proposal entirely: its text, its tags, its supports and marks."""
        for table in (ProposalTag, ProposalReaction):
            self.session.exec(delete(table).where(col(table.proposal_id) == proposal.id))
        self.session.delete(proposal)
        self.session.flush()

    def _set_tags(self, proposal: Proposal, tags: Sequence[TagSpelling]) -> None:
        assert proposal.id is not None
        for position, tag in enumerate(tags):
            self.session.add(
                ProposalTag(
                    proposal_id=proposal.id,
                    folded=tag.folded,
                    display=tag.display,
                    position=position,
                )
            )
        self.session.flush()

    # --- listing --------------------------------------------------------------------------

    def _filtered(
        self,
        room_id: str | None,
        tags: Iterable[str],
        synonyms: Mapping[str, str],
        since: datetime | None,
        until: datetime | None,
    ) -> list[int]:
        """IDs of matching proposals, newest first (any of ``tags``, canonical folded forms)."""
        statement = select(Proposal.id)
        if room_id is not None:
            statement = statement.where(Proposal.room_id == room_id)
        wanted: set[str] = set()
        for canonical in tags:
            wanted |= stored_forms(canonical, synonyms)
        if wanted or tags:
            tagged = select(ProposalTag.proposal_id).where(col(ProposalTag.folded).in_(wanted))
            statement = statement.where(col(Proposal.id).in_(tagged))
        if since is not None:
            statement = statement.where(col(Proposal.created_at) >= since)
        if until is not None:
            statement = statement.where(col(Proposal.created_at) < until)
        statement = statement.order_by(col(Proposal.created_at).desc(), col(Proposal.id).desc())
        return [int(pid) for pid in self.session.exec(statement) if pid is not None]

    def count(
        self, room_id: str, *, tags: Iterable[str] = (), synonyms: Mapping[str, str] | None = None
    ) -> int:
        return len(self._filtered(room_id, list(tags), synonyms or {}, None, None))

    def list(
        self,
        room_id: str | None,
        *,
        tags: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[ProposalView]:
        """Proposals newest first; ``room_id=None`` lists every room (exports).

        ``tags`` are canonical folded tags (synonyms applied); a proposal matches if it has
        any of them under the current ``synonyms``. ``since``/``until`` bound ``created_at``.
        """
        ids = self._filtered(room_id, list(tags), synonyms or {}, since, until)
        page = ids[offset : None if limit is None else offset + limit]
        return self.views(page)

    def list_published(
        self,
        room_id: str | None,
        *,
        tags: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
    ) -> builtins.list[ProposalView]:
        """What a room's proposals page shows (every room's: ``None``, for exports): every
        proposal but those erased at their author's request, most supported first, newest
        first among equals."""
        ids = self._filtered(room_id, list(tags), synonyms or {}, None, None)
        erased_query = select(PrivacyErasedProposal.proposal_id).join(
            Proposal, col(Proposal.id) == col(PrivacyErasedProposal.proposal_id)
        )
        if room_id is not None:
            erased_query = erased_query.where(Proposal.room_id == room_id)
        erased = set(self.session.exec(erased_query))
        views = self.views([pid for pid in ids if pid not in erased])
        return sorted(views, key=lambda view: -view.supports)  # stable: keeps newest first

    def views(self, ids: Sequence[int]) -> builtins.list[ProposalView]:
        """Views of these proposals, in the order given."""
        if not ids:
            return []
        rows = {
            p.id: p for p in self.session.exec(select(Proposal).where(col(Proposal.id).in_(ids)))
        }
        tags: dict[int, builtins.list[TagSpelling]] = {pid: [] for pid in ids}
        tag_rows = self.session.exec(
            select(ProposalTag)
            .where(col(ProposalTag.proposal_id).in_(ids))
            .order_by(col(ProposalTag.position))
        )
        for tag in tag_rows:
            tags[tag.proposal_id].append(TagSpelling(tag.display, tag.folded))
        supports = self.support_counts(ids)
        statuses = self.statuses(ids)
        views = []
        for pid in ids:
            proposal = rows.get(pid)
            if proposal is None:
                continue
            views.append(
                ProposalView(
                    id=pid,
                    room_id=proposal.room_id,
                    event_id=proposal.event_id,
                    author=proposal.author,
                    text=proposal.text,
                    created_at=proposal.created_at,
                    edited_at=proposal.edited_at,
                    tags=tuple(tags[pid]),
                    supports=supports.get(pid, 0),
                    status=statuses.get(pid, OPEN),
                )
            )
        return views

    def spellings(self, room_id: str) -> builtins.list[TagSpelling]:
        """Every tag written on the room's proposals (one entry per use), for display choices."""
        statement = (
            select(ProposalTag)
            .join(Proposal, col(Proposal.id) == col(ProposalTag.proposal_id))
            .where(Proposal.room_id == room_id)
            .order_by(col(ProposalTag.id))
        )
        return [TagSpelling(tag.display, tag.folded) for tag in self.session.exec(statement)]

    # --- reactions ------------------------------------------------------------------------

    def add_reaction(
        self, proposal: Proposal, *, reaction_event_id: str, user_id: str, kind: str, at: datetime
    ) -> None:
        assert proposal.id is not None
        existing = self.session.exec(
            select(ProposalReaction).where(ProposalReaction.reaction_event_id == reaction_event_id)
        ).first()
        if existing is not None:
            return
        self.session.add(
            ProposalReaction(
                proposal_id=proposal.id,
                reaction_event_id=reaction_event_id,
                user_id=user_id,
                kind=kind,
                created_at=at,
            )
        )
        self.session.flush()

    def delete_reaction(self, reaction_event_id: str) -> bool:
        """Forget a removed reaction; True if it was one that counted."""
        row = self.session.exec(
            select(ProposalReaction).where(ProposalReaction.reaction_event_id == reaction_event_id)
        ).first()
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    def support_counts(self, ids: Sequence[int]) -> dict[int, int]:
        """Distinct supporters per proposal (two 👍 variants by one person count once)."""
        statement = (
            select(
                ProposalReaction.proposal_id,
                func.count(func.distinct(ProposalReaction.user_id)),
            )
            .where(col(ProposalReaction.proposal_id).in_(ids), ProposalReaction.kind == SUPPORT)
            .group_by(col(ProposalReaction.proposal_id))
        )
        return {int(pid): int(n) for pid, n in self.session.exec(statement)}

    def statuses(self, ids: Sequence[int]) -> dict[int, str]:
        """Status per proposal: the latest organiser mark still in place, else ``open``."""
        statement = (
            select(ProposalReaction)
            .where(
                col(ProposalReaction.proposal_id).in_(ids),
                col(ProposalReaction.kind).in_(STATUS_KINDS),
            )
            .order_by(col(ProposalReaction.created_at), col(ProposalReaction.id))
        )
        result: dict[int, str] = {}
        for row in self.session.exec(statement):
            result[row.proposal_id] = row.kind
        return result
