"""What people do to polls from their own clients: start, answer, react, redact, end.

Every vote is stored as a ballot (native responses in either event type, number-emoji reactions
on the poll or its notice, ✅ 🤷 👎 ✋ on a decision's message; replies to a decision are kept
as reasons) and nothing is counted here: ``handlers.polls.closing`` recounts the
stored ballots, so the order in which events arrive (backlog, gap filling) never matters. Polls
that people start from their own client are stored like command polls and get the same notice;
their end events close them when sent by the author or an organiser.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from bot.runtime.clock import from_millis, to_millis
from bot.runtime.context import Context
from bot.runtime.messages import ping_content
from bot.text.errors import UserError
from bot.text.i18n import N_
from bot.text.replies import command_text
from handlers.polls.anonymous import AnonymousBallots, is_anonymous
from handlers.polls.args import MAX_QUESTION_LENGTH
from handlers.polls.availability import read_availability
from handlers.polls.closing import Closer
from handlers.polls.consent import OBJECT, consent_ballot
from handlers.polls.events import (
    MAX_ANSWER_LENGTH,
    MIN_ANSWERS,
    POLL_END_TYPES,
    POLL_RESPONSE_TYPES,
    POLL_START_TYPES,
    parse_poll_end,
    parse_poll_response,
    parse_poll_start,
)
from handlers.polls.ranked import read_ranking
from handlers.polls.results import answer_ids
from handlers.polls.scores import read_scores
from handlers.polls.tally import Ballot, ballot_from_response, reaction_ballot
from storage.poll_models import Poll
from storage.polls import PollRepository

MAX_REASON_LENGTH = 1000
REASON_RECEIVED = "📝"  # the discreet acknowledgement of a reply to a decision

# Posts the notice of a new poll (answers with number emoji) in reply to the given event.
Announce = Callable[[Context, Poll, str], None]


class PollIntake:
    """Poll events, reactions and redactions turned into stored polls, ballots and closes."""

    def __init__(self, closer: Closer, announce: Announce, anonymous: AnonymousBallots) -> None:
        self.closer = closer
        self.announce = announce
        self.anonymous = anonymous

    async def on_poll_event(self, ctx: Context, raw: dict[str, Any]) -> None:
        """An MSC3381 start, response or end event (unstable or stable type)."""
        event_type = raw.get("type")
        if event_type in POLL_START_TYPES:
            self._on_start(ctx, raw)
        elif event_type in POLL_RESPONSE_TYPES:
            self._on_response(ctx, raw)
        elif event_type in POLL_END_TYPES:
            await self._on_end(ctx, raw)

    def _on_start(self, ctx: Context, raw: dict[str, Any]) -> None:
        definition = parse_poll_start(raw)
        if definition is None or len(definition.answers) < MIN_ANSWERS:
            return
        repository = PollRepository(ctx.session)
        if repository.get_by_event(ctx.room_id, definition.event_id) is not None:
            return
        poll = repository.add(
            room_id=ctx.room_id,
            author=definition.sender,
            question=definition.question[:MAX_QUESTION_LENGTH],
            answers=[(i, text[:MAX_ANSWER_LENGTH]) for i, text in definition.answers],
            max_selections=definition.max_selections,
            created_at=from_millis(definition.ts),
            origin="client",
            start_event_id=definition.event_id,
        )
        if not ctx.is_backlog:
            self.announce(ctx, poll, definition.event_id)

    def _on_response(self, ctx: Context, raw: dict[str, Any]) -> None:
        response = parse_poll_response(raw)
        if response is None:
            return
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, response.poll_event_id)
        if poll is None or poll.start_event_id != response.poll_event_id:
            return
        _store(ctx, poll, ballot_from_response(response))

    async def _on_end(self, ctx: Context, raw: dict[str, Any]) -> None:
        marker = parse_poll_end(raw)
        if marker is None:
            return
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, marker.poll_event_id)
        if poll is None or poll.start_event_id != marker.poll_event_id or poll.status != "open":
            return
        if marker.sender != poll.author and not await ctx.is_organiser(marker.sender):
            return  # MSC3381: only the creator (or a moderator) can end a poll
        await self.closer.close(
            ctx.session,
            poll,
            end=from_millis(marker.ts),
            closed_by=marker.sender,
            language=ctx.language,
            send_end_event=False,
        )

    async def on_reaction(self, ctx: Context, target_event_id: str, key: str) -> None:
        """A number emoji on a poll's start event or notice is a vote for that answer; ✅ 🤷 👎
        ✋ on a decision's message are its four answers."""
        poll = PollRepository(ctx.session).get_by_event(ctx.room_id, target_event_id)
        if poll is None:
            return
        if is_anonymous(poll):
            return  # a public reaction is no anonymous ballot
        moment = to_millis(ctx.origin_ts)
        if poll.kind == "consent":
            ballot = consent_ballot(ctx.sender, moment, ctx.event_id, key)
        elif poll.kind == "choice":
            ballot = reaction_ballot(answer_ids(poll), ctx.sender, moment, ctx.event_id, key)
        else:
            return  # score and ranked polls are answered by replies
        if ballot is None:
            return
        _store(ctx, poll, ballot)
        if ballot.selections == (OBJECT,) and poll.status == "open" and not ctx.is_backlog:
            _ask_reason(ctx, poll)

    async def on_edit(
        self, ctx: Context, target_event_id: str, new_content: dict[str, Any]
    ) -> None:
        """An edited ballot reply or objection reason counts in its new form, from the edit's
        time (a ballot that no longer reads is answered, and the previous one stands); so does
        an edited anonymous ballot in the bot's direct room."""
        body = new_content.get("body")
        if not isinstance(body, str):
            return
        if await self.anonymous.on_direct_message(
            ctx, command_text(body), acknowledge=target_event_id
        ):
            return
        repository = PollRepository(ctx.session)
        text = " ".join(command_text(body).split())[:MAX_REASON_LENGTH]
        for ballot, poll in repository.find_ballots(ctx.room_id, target_event_id):
            if ballot.source != "reply" or ballot.voter != ctx.sender or poll.status != "open":
                continue
            selections = _read_reply_ballot(ctx, poll, text)
            if selections is None:
                return
            # kept under the original event, so deleting that message withdraws the ballot
            repository.add_ballot(
                poll,
                voter=ctx.sender,
                ts=to_millis(ctx.origin_ts),
                event_id=target_event_id,
                selections=selections,
                source="reply",
            )
            return
        for reason, poll in repository.find_reasons(ctx.room_id, target_event_id):
            if reason.voter == ctx.sender and poll.status == "open" and text:
                repository.add_reason(
                    poll,
                    voter=ctx.sender,
                    ts=to_millis(ctx.origin_ts),
                    event_id=target_event_id,
                    text=text,
                )
                return

    def _on_ballot_reply(self, ctx: Context, poll: Poll, text: str) -> None:
        """A reply to a score or ranked poll is a ballot; one that cannot be read is answered
        with what is wrong, and stores nothing."""
        selections = _read_reply_ballot(ctx, poll, text)
        if selections is None:
            return
        PollRepository(ctx.session).add_ballot(
            poll,
            voter=ctx.sender,
            ts=to_millis(ctx.origin_ts),
            event_id=ctx.event_id,
            selections=selections,
            source="reply",
        )
        if not ctx.is_backlog:
            ctx.react(BALLOT_RECEIVED)

    async def on_message(self, ctx: Context, body: str, raw: dict[str, Any]) -> None:
        """A reply to an open decision's message is kept as its author's reason (shown with
        the result if they object at the close), acknowledged with a reaction. In the bot's
        direct room, ``S3 2`` is a ballot of an anonymous poll."""
        if await self.anonymous.on_direct_message(ctx, command_text(body)):
            return
        target = _replied_to(raw)
        if target is None:
            return
        repository = PollRepository(ctx.session)
        poll = repository.get_by_event(ctx.room_id, target)
        if poll is None or poll.status != "open" or poll.kind == "choice":
            return
        text = " ".join(command_text(body).split())[:MAX_REASON_LENGTH]
        if not text:
            return
        if poll.kind in BALLOT_READERS or is_anonymous(poll):
            if is_anonymous(poll):
                if not ctx.is_backlog:  # a public reply would show the vote: not counted
                    ctx.reply(
                        N_(
                            "Poll {poll} is anonymous: your reply was not counted. "
                            "Vote with {command}."
                        ),
                        poll=poll.short_id,
                        command=f"!bulletin {poll.short_id}",
                    )
                return
            self._on_ballot_reply(ctx, poll, text)
            return
        repository.add_reason(
            poll, voter=ctx.sender, ts=to_millis(ctx.origin_ts), event_id=ctx.event_id, text=text
        )
        if not ctx.is_backlog:
            ctx.react(REASON_RECEIVED)

    async def on_redaction(self, ctx: Context, redacted_event_id: str) -> None:
        """A removed reaction is logged as a removal; a redacted response is forgotten."""
        repository = PollRepository(ctx.session)
        repository.delete_reasons_by_event(ctx.room_id, redacted_event_id)
        moment = to_millis(ctx.origin_ts)
        for ballot, poll in repository.find_ballots(ctx.room_id, redacted_event_id):
            if poll.closed_at is not None and moment > to_millis(poll.closed_at):
                continue  # after the end nothing changes the result
            if ballot.source == "reaction":
                repository.add_ballot(
                    poll,
                    voter=ballot.voter,
                    ts=moment,
                    event_id=ballot.event_id,
                    selections=(),
                    source="reaction_removed",
                )
            elif ballot.source in ("native", "reply"):
                repository.delete_ballot(ballot)


def _store(ctx: Context, poll: Poll, ballot: Ballot) -> None:
    """Keep a ballot as cast; the tally decides later whether it counts."""
    PollRepository(ctx.session).add_ballot(
        poll,
        voter=ballot.voter,
        ts=ballot.ts,
        event_id=ballot.event_id,
        selections=ballot.selections,
        source=ballot.source,
        malformed=ballot.malformed,
    )


BALLOT_READERS: dict[str, Callable[[str, list[str]], tuple[str, ...]]] = {
    "ranked": read_ranking,
    "score": read_scores,
    "when": read_availability,
}
BALLOT_RECEIVED = "🗳️"  # the discreet acknowledgement of a ballot given by reply


def _replied_to(raw: dict[str, Any]) -> str | None:
    """The event a message answers: a reply's target, or a thread's root."""
    content = raw.get("content")
    relation = content.get("m.relates_to") if isinstance(content, dict) else None
    if not isinstance(relation, dict):
        return None
    if relation.get("rel_type") == "m.thread" and isinstance(relation.get("event_id"), str):
        return str(relation["event_id"])
    answered = relation.get("m.in_reply_to")
    if isinstance(answered, dict) and isinstance(answered.get("event_id"), str):
        return str(answered["event_id"])
    return None


def _ask_reason(ctx: Context, poll: Poll) -> None:
    """Once per person and decision, ask an objector for their reason, mentioning them only."""
    assert poll.id is not None
    if any(row.voter == ctx.sender for row in PollRepository(ctx.session).list_reasons(poll.id)):
        return  # already given
    rendered = ctx.renderer.text(
        ctx.language,
        N_(
            "{name}, you object to decision {poll}: reply to its message with your reason, "
            "it will be listed with the result."
        ),
        name=ctx.display_name(ctx.sender),
        poll=poll.short_id,
    )
    person = hashlib.sha256(ctx.sender.encode()).hexdigest()[:16]
    ctx.send(
        f"decisionask:{poll.short_id}:{person}",
        ping_content(rendered, user_ids=[ctx.sender], thread_root=ctx.thread_root),
    )


def _read_reply_ballot(ctx: Context, poll: Poll, text: str) -> tuple[str, ...] | None:
    """The answers a ballot reply gives, or None after telling its author what is wrong
    (not for backlog messages, answered long after they were written)."""
    try:
        return BALLOT_READERS[poll.kind](text, answer_ids(poll))
    except UserError as error:
        if not ctx.is_backlog:
            ctx.reply(error.message)
        return None
