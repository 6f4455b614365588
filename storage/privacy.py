"""Privacy repository: everything stored about one person across rooms (to export it or
erase it), the direct rooms and pending erasure requests, and the retention purge.

It reads and writes the other features' tables through their models, so the SQL that
crosses features lives in one place instead of spreading into each feature's repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, update
from sqlmodel import Session, col, delete, select

from storage.agenda_models import AgendaItem, EventRsvp
from storage.digest_models import DigestRun
from storage.models import OutboxMessage
from storage.poll_models import NudgeOptOut, Poll, PollBallot, PollReason
from storage.privacy_models import (
    PrivacyDirectRoom,
    PrivacyErasedProposal,
    PrivacyForgetRequest,
)
from storage.proposal_models import Proposal, ProposalReaction, ProposalTag
from storage.proposals import SUPPORT

EXPIRED = "expired"  # outbox status: sent, stored copy emptied by the retention purge
VERBATIM_BREAKS = re.compile(r'[\s"\\\x00-\x1f]+')
MIN_PIECE = 4
SNIPPET_LENGTH = 60  # how much of an erased text identifies it in the send log


@dataclass
class ForgetReport:
    """What an erasure changed, counted for the confirmation."""

    proposals: int = 0
    tags: int = 0
    supports: int = 0
    marks: int = 0
    ballots: int = 0
    rsvps: int = 0
    polls: int = 0
    agenda_items: int = 0
    sent_messages: int = 0


@dataclass
class PurgeReport:
    """What the retention purge deleted."""

    proposals: int = 0
    ballots: int = 0
    rsvps: int = 0
    processed_events: int = 0
    forget_requests: int = 0
    sent_messages: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows deleted or emptied by the purge itself (files and bookkeeping aside)."""
        return self.proposals + self.ballots + self.rsvps + self.sent_messages

    def add(self, other: PurgeReport) -> None:
        self.proposals += other.proposals
        self.ballots += other.ballots
        self.rsvps += other.rsvps
        self.sent_messages += other.sent_messages


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _flat(text: str) -> str:
    return " ".join(text.split())


def _verbatim_piece(snippet: str) -> str | None:
    """The longest part of ``snippet`` that stored JSON holds verbatim, if long enough to search.

    JSON escapes quotes, backslashes and control characters, and stored text may break lines
    where the snippet has a space: the piece has none of those.
    """
    best = max(VERBATIM_BREAKS.split(snippet), key=len)
    return best if len(best) >= MIN_PIECE else None


class PrivacyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- direct rooms --------------------------------------------------------------------

    def get_direct_room(self, user_id: str) -> str | None:
        row = self.session.get(PrivacyDirectRoom, user_id)
        return row.room_id if row is not None else None

    def set_direct_room(self, user_id: str, room_id: str, now: datetime) -> None:
        row = self.session.get(PrivacyDirectRoom, user_id)
        if row is None:
            self.session.add(PrivacyDirectRoom(user_id=user_id, room_id=room_id, created_at=now))
        else:
            row.room_id, row.created_at = room_id, now
            self.session.add(row)
        self.session.flush()

    # --- pending erasure requests --------------------------------------------------------

    def get_forget_request(self, user_id: str) -> PrivacyForgetRequest | None:
        return self.session.get(PrivacyForgetRequest, user_id)

    def add_forget_request(self, user_id: str, room_id: str, now: datetime) -> None:
        """Record (or restart) a request waiting for its confirmation."""
        row = self.session.get(PrivacyForgetRequest, user_id)
        if row is None:
            row = PrivacyForgetRequest(user_id=user_id, room_id=room_id, requested_at=now)
        else:
            row.room_id, row.requested_at = room_id, now
        self.session.add(row)
        self.session.flush()

    def delete_forget_request(self, user_id: str) -> None:
        self.session.exec(
            delete(PrivacyForgetRequest).where(col(PrivacyForgetRequest.user_id) == user_id)
        )

    def is_erased(self, proposal_id: int) -> bool:
        return self.session.get(PrivacyErasedProposal, proposal_id) is not None

    # --- export ----------------------------------------------------------------------------

    def collect(self, user_id: str) -> dict[str, Any]:
        """Everything stored about ``user_id``, in every room, as JSON-ready data."""
        proposals = list(
            self.session.exec(
                select(Proposal).where(Proposal.author == user_id).order_by(col(Proposal.id))
            )
        )
        ids = [p.id for p in proposals if p.id is not None]
        tags: dict[int, list[str]] = {pid: [] for pid in ids}
        supports: dict[int, int] = {}
        if ids:
            for tag in self.session.exec(
                select(ProposalTag)
                .where(col(ProposalTag.proposal_id).in_(ids))
                .order_by(col(ProposalTag.position))
            ):
                tags[tag.proposal_id].append(tag.display)
            counted = self.session.exec(
                select(
                    ProposalReaction.proposal_id,
                    func.count(func.distinct(ProposalReaction.user_id)),
                )
                .where(col(ProposalReaction.proposal_id).in_(ids), ProposalReaction.kind == SUPPORT)
                .group_by(col(ProposalReaction.proposal_id))
            )
            supports = {int(pid): int(n) for pid, n in counted}
        reactions = self.session.exec(
            select(ProposalReaction, Proposal)
            .join(Proposal, col(Proposal.id) == col(ProposalReaction.proposal_id))
            .where(ProposalReaction.user_id == user_id)
            .order_by(col(ProposalReaction.id))
        )
        ballots = self.session.exec(
            select(PollBallot, Poll)
            .join(Poll, col(Poll.id) == col(PollBallot.poll_id))
            .where(PollBallot.voter == user_id)
            .order_by(col(PollBallot.id))
        )
        opted_out = self.session.get(NudgeOptOut, user_id)
        reasons = self.session.exec(
            select(PollReason, Poll)
            .join(Poll, col(Poll.id) == col(PollReason.poll_id))
            .where(PollReason.voter == user_id)
            .order_by(col(PollReason.id))
        )
        rsvps = self.session.exec(
            select(EventRsvp, AgendaItem)
            .join(AgendaItem, col(AgendaItem.id) == col(EventRsvp.item_id))
            .where(EventRsvp.user_id == user_id)
            .order_by(col(EventRsvp.id))
        )
        polls = self.session.exec(select(Poll).where(Poll.author == user_id).order_by(col(Poll.id)))
        items = self.session.exec(
            select(AgendaItem).where(AgendaItem.author == user_id).order_by(col(AgendaItem.id))
        )
        return {
            "user_id": user_id,
            "proposals": [
                {
                    "id": p.short_id,
                    "room_id": p.room_id,
                    "event_id": p.event_id,
                    "text": p.text,
                    "tags": tags.get(p.id or 0, []),
                    "supports": supports.get(p.id or 0, 0),
                    "source": p.source,
                    "created_at": _iso(p.created_at),
                    "edited_at": _iso(p.edited_at),
                }
                for p in proposals
            ],
            "proposal_reactions": [
                {
                    "proposal": proposal.short_id,
                    "room_id": proposal.room_id,
                    "kind": reaction.kind,
                    "created_at": _iso(reaction.created_at),
                }
                for reaction, proposal in reactions
            ],
            "poll_votes": [
                {
                    "poll": poll.short_id,
                    "room_id": poll.room_id,
                    "question": poll.question,
                    "answers": _answer_texts(poll, ballot.selections),
                    "source": ballot.source,
                    "at_ms": ballot.ts,
                }
                for ballot, poll in ballots
            ],
            "nudges_opted_out_at": _iso(opted_out.at) if opted_out else None,
            "decision_replies": [
                {
                    "decision": poll.short_id,
                    "room_id": poll.room_id,
                    "text": reason.text,
                    "at_ms": reason.ts,
                }
                for reason, poll in reasons
            ],
            "rsvps": [
                {
                    "item": ("E" if item.kind == "event" else "D") + str(item.id),
                    "room_id": item.room_id,
                    "title": item.title,
                    "answer": rsvp.answer,
                    "answered_at": _iso(rsvp.answered_at),
                    # the meeting answered for, when the event repeats
                    "meeting": _iso(rsvp.occurs_at),
                }
                for rsvp, item in rsvps
            ],
            "polls_started": [
                {
                    "poll": poll.short_id,
                    "room_id": poll.room_id,
                    "question": poll.question,
                    "created_at": _iso(poll.created_at),
                }
                for poll in polls
            ],
            "events_and_deadlines_announced": [
                {
                    "item": ("E" if item.kind == "event" else "D") + str(item.id),
                    "room_id": item.room_id,
                    "title": item.title,
                    "starts_at": _iso(item.starts_at),
                    "created_at": _iso(item.created_at),
                }
                for item in items
            ],
            "direct_room": self.get_direct_room(user_id),
        }

    # --- erasure ---------------------------------------------------------------------------

    def forget(
        self,
        user_id: str,
        *,
        now: datetime,
        erased_text: Callable[[str], str],
        anonymous: Callable[[str], str],
        also_scrub: Iterable[str] = (),
    ) -> ForgetReport:
        """Erase or anonymise everything stored about ``user_id``.

        Their proposals keep their number and supports but lose text, tags and author
        (``erased_text(room_id)`` and ``anonymous(room_id)`` give the replacement in the
        room's language); their supports, votes and RSVPs are deleted; polls and events
        they announced, and marks they set as organisers, become anonymous; sent messages
        mentioning them or their texts lose their stored copy; their direct room and pending
        request are forgotten. ``also_scrub`` adds strings (display names) to look for.
        """
        report = ForgetReport()
        snippets = {user_id, *(s for s in also_scrub if len(s) >= 4)}
        proposals = list(self.session.exec(select(Proposal).where(Proposal.author == user_id)))
        for proposal in proposals:
            assert proposal.id is not None
            if not self.is_erased(proposal.id):
                flat = _flat(proposal.text)
                snippets.add(flat[:SNIPPET_LENGTH] if len(flat) > SNIPPET_LENGTH else flat)
            report.tags += self._delete(
                delete(ProposalTag).where(col(ProposalTag.proposal_id) == proposal.id)
            )
            proposal.text = erased_text(proposal.room_id)
            proposal.author = anonymous(proposal.room_id)
            proposal.thread_root = None
            self.session.add(proposal)
            if not self.is_erased(proposal.id):
                self.session.add(PrivacyErasedProposal(proposal_id=proposal.id, erased_at=now))
            report.proposals += 1
        report.supports = self._delete(
            delete(ProposalReaction).where(
                col(ProposalReaction.user_id) == user_id, col(ProposalReaction.kind) == SUPPORT
            )
        )
        for mark in self.session.exec(
            select(ProposalReaction, Proposal)
            .join(Proposal, col(Proposal.id) == col(ProposalReaction.proposal_id))
            .where(ProposalReaction.user_id == user_id)
        ):
            reaction, proposal = mark
            reaction.user_id = anonymous(proposal.room_id)
            self.session.add(reaction)
            report.marks += 1
        report.ballots = self._delete(delete(PollBallot).where(col(PollBallot.voter) == user_id))
        # the reasons given for objections go with the votes
        self._delete(delete(NudgeOptOut).where(col(NudgeOptOut.user_id) == user_id))
        report.ballots += self._delete(delete(PollReason).where(col(PollReason.voter) == user_id))
        report.rsvps = self._delete(delete(EventRsvp).where(col(EventRsvp.user_id) == user_id))
        for poll in self.session.exec(
            select(Poll).where((col(Poll.author) == user_id) | (col(Poll.closed_by) == user_id))
        ):
            if poll.author == user_id:
                poll.author = anonymous(poll.room_id)
                report.polls += 1
            if poll.closed_by == user_id:
                poll.closed_by = anonymous(poll.room_id)
            self.session.add(poll)
        for item in self.session.exec(select(AgendaItem).where(AgendaItem.author == user_id)):
            item.author = anonymous(item.room_id)
            self.session.add(item)
            report.agenda_items += 1
        self.session.execute(
            update(DigestRun)
            .where(col(DigestRun.published_by) == user_id)
            .values(published_by=None)
        )
        report.sent_messages = self.scrub_sent(snippets)
        self.session.exec(
            delete(PrivacyDirectRoom).where(col(PrivacyDirectRoom.user_id) == user_id)
        )
        self.delete_forget_request(user_id)
        self.session.flush()
        return report

    def scrub_sent(self, snippets: Iterable[str]) -> int:
        """Empty the stored copy of sent messages that contain any of ``snippets``.

        The messages stay in the rooms (Matrix keeps them); only the bot's log loses them.
        Rows still waiting to be sent are left alone, and keys stay so nothing is resent.
        The database narrows the search first (a year of a busy bot is a million rows); the
        exact check, on the text with its whitespace folded, is done here.
        """
        wanted = [s for s in snippets if s]
        if not wanted:
            return 0
        statement = select(OutboxMessage).where(
            OutboxMessage.status != "pending", col(OutboxMessage.content) != {}
        )
        pieces = [_verbatim_piece(snippet) for snippet in wanted]
        if all(pieces):
            stored_text = cast(col(OutboxMessage.content), Text)  # the JSON as stored, not parsed
            statement = statement.where(
                or_(*(stored_text.contains(piece, autoescape=True) for piece in pieces))
            )
        scrubbed = 0
        for row in self.session.exec(statement):
            text = _flat(_json_text(row.content))
            if any(snippet in text for snippet in wanted):
                row.content = {}
                self.session.add(row)
                scrubbed += 1
        return scrubbed

    # --- retention -------------------------------------------------------------------------

    def purge_step(self, cutoff: datetime, limit: int) -> PurgeReport:
        """Delete up to ``limit`` of each kind of row created before ``cutoff`` (retention):
        proposals (with their tags and supports), ballots, RSVPs, and the stored copies of
        sent messages. Call again, each time in its own transaction, until it returns an empty
        report: shortening the retention of a year-old deployment means a million rows, and
        the bot keeps answering between steps."""
        report = PurgeReport()
        old = list(
            self.session.exec(
                select(Proposal.id).where(col(Proposal.created_at) < cutoff).limit(limit)
            )
        )
        if old:
            for table in (ProposalTag, ProposalReaction):
                self._delete(delete(table).where(col(table.proposal_id).in_(old)))
            self._delete(
                delete(PrivacyErasedProposal).where(col(PrivacyErasedProposal.proposal_id).in_(old))
            )
            report.proposals = self._delete(delete(Proposal).where(col(Proposal.id).in_(old)))
        old_ms = int(cutoff.timestamp() * 1000)
        report.ballots = self._delete(
            delete(PollBallot).where(
                col(PollBallot.id).in_(
                    select(PollBallot.id).where(col(PollBallot.ts) < old_ms).limit(limit)
                )
            )
        )
        report.ballots += self._delete(
            delete(PollReason).where(
                col(PollReason.id).in_(
                    select(PollReason.id).where(col(PollReason.ts) < old_ms).limit(limit)
                )
            )
        )
        report.rsvps = self._delete(
            delete(EventRsvp).where(
                col(EventRsvp.id).in_(
                    select(EventRsvp.id).where(col(EventRsvp.answered_at) < cutoff).limit(limit)
                )
            )
        )
        report.sent_messages = self.scrub_sent_before(cutoff, limit=limit)
        return report

    def scrub_sent_before(self, cutoff: datetime, *, limit: int) -> int:
        """Empty the stored copy of up to ``limit`` messages sent before ``cutoff`` and mark
        them expired (keys stay: nothing is sent again). Each row is visited once, ever: the
        expired ones leave the ``(status, sent_at)`` range this reads."""
        old = (
            select(OutboxMessage.id)
            .where(col(OutboxMessage.status) == "sent", col(OutboxMessage.sent_at) < cutoff)
            .limit(limit)
        )
        return self._delete(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(old))
            .values(content={}, status=EXPIRED)
            .execution_options(synchronize_session=False)
        )

    def purge_forget_requests(self, before: datetime) -> int:
        """Forget erasure requests that were never confirmed."""
        return self._delete(
            delete(PrivacyForgetRequest).where(col(PrivacyForgetRequest.requested_at) < before)
        )

    def _delete(self, statement: Any) -> int:
        result = self.session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)


def _answer_texts(poll: Poll, selections: list[str]) -> list[str]:
    texts = {str(answer[0]): str(answer[1]) for answer in poll.answers if len(answer) >= 2}
    return [texts.get(selection, selection) for selection in selections]


def _json_text(value: Any) -> str:
    """Every string inside a JSON value, joined (keys too), for searching."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_json_text(k) + " " + _json_text(v) for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_json_text(v) for v in value)
    return ""
