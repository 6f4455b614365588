"""Closing a poll: recount its stored ballots, keep the counts, post the results.

A poll closes by `!clore`, by its `poll_close` timer (`poll_close:S2`) or by a person's poll
end event; all three go through ``Closer`` so the results look the same and are posted once
(stable outbox keys). The tally is always recomputed from the stored ballots with
``handlers.polls.tally``, never kept as running counts, so late or removed votes cannot skew it.
Each kind is counted by its own rule (consent, scores, instant-runoff, best slot) and states it
in its results; the room's members at the close are kept for the quorum and the digest's
participation rate, and an anonymous poll's voters are unlinked once it is counted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel import Session

from bot.runtime.config import BotConfig
from bot.runtime.kit import FeatureGateway
from bot.runtime.messages import MessageRenderer, Rendered, notice_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import resolve
from bot.runtime.timers import TaskRun, Timers
from bot.text.i18n import N_
from handlers.polls.consent import ANSWERS, ConsentResult
from handlers.polls.events import UNSTABLE_END, build_poll_end, vote_emoji
from handlers.polls.nudges import nudge_task_key
from handlers.polls.quorum import Quorum
from handlers.polls.results import (
    decision_result,
    poll_tally,
    ranked_result,
    scores_result,
    when_result,
)
from handlers.polls.tally import TallyResult
from storage.models import ScheduledTask
from storage.poll_models import Poll
from storage.polls import PollRepository
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

TASK_KIND = "poll_close"


def close_task_key(poll: Poll) -> str:
    """The stable key of a poll's closing timer: `poll_close:S2`."""
    return f"{TASK_KIND}:{poll.short_id}"


def end_event_key(poll: Poll) -> str:
    """The outbox key of a poll's end event: one per poll, whether it was closed or cancelled."""
    return f"pollend:{poll.short_id}"


def _result_snapshot(
    result: TallyResult, quorum: Quorum | None, members: int | None
) -> dict[str, Any]:
    """What is stored at the close: counts only, never who voted what (vote privacy)."""
    return {
        "counts": dict(result.counts),
        "percentages": dict(result.percentages),
        "voters": result.voters,
        "spoiled": result.spoiled,
        "winners": list(result.winners),
        "quorum": quorum.snapshot() if quorum else None,
        "members": members,  # in the room at the close: the participation rate
    }


def _rows(poll: Poll, result: TallyResult) -> list[dict[str, Any]]:
    """One results line per answer, in poll order, with its number emoji."""
    return [
        {
            "emoji": vote_emoji(index) or f"{index + 1}.",
            "text": text,
            "count": result.counts.get(answer_id, 0),
            "percent": result.percentages.get(answer_id, 0),
            "winner": answer_id in result.winners,
        }
        for index, (answer_id, text) in enumerate(poll.answers)
    ]


def _decision_snapshot(
    result: ConsentResult, outcome: str, quorum: Quorum | None, members: int | None
) -> dict[str, Any]:
    """What is stored when a decision closes: counts and the outcome, no names."""
    return {
        "counts": dict(result.counts),
        "voters": result.voters,
        "outcome": outcome,
        "objections": len(result.objections),
        "winners": [],
        "quorum": quorum.snapshot() if quorum else None,
        "members": members,
    }


def _decimal(value: Fraction | None, language: str) -> str | None:
    """An average to one decimal, written the room's way (3,5 in French, 3.5 in English)."""
    if value is None:
        return None
    tenths = math.floor(value * 10 + Fraction(1, 2))  # half up: 3.25 → 3.3
    text = f"{tenths // 10}.{tenths % 10}"
    return text.replace(".", ",") if language == "fr" else text


def _quorum_view(quorum: Quorum | None) -> dict[str, Any] | None:
    """The quorum as the results templates show it."""
    return None if quorum is None else quorum.snapshot()


@dataclass(frozen=True)
class Closing:
    """One closing's circumstances, as each kind's closing step needs them."""

    end: datetime
    closed_by: str | None
    language: str
    late: bool
    reply_to: str | None


@dataclass
class Closer:
    """Closes polls and decisions from a command, a timer or a person's poll end event."""

    outbox: Outbox
    renderer: MessageRenderer
    timers: Timers
    gateway: FeatureGateway  # members' names, and who is in the room for a quorum
    bot_user_id: str

    async def members(self, room_id: str) -> int | None:
        """How many people are in the room now (the bot left out); None if unknown."""
        try:
            joined = await self.gateway.joined_member_ids(room_id)
        except Exception:  # the homeserver did not answer: say so rather than not closing
            log.warning("could not count the room's members", extra={"room_id": room_id})
            return None
        return len([m for m in joined if m != self.bot_user_id])

    async def quorum(self, poll: Poll, voters: int) -> tuple[int | None, Quorum | None]:
        """The room's members at the close, and the poll's quorum checked against them."""
        members = await self.members(poll.room_id)
        percent = (poll.settings or {}).get("quorum")
        return members, Quorum(percent, members, voters) if isinstance(percent, int) else None

    async def close(
        self,
        session: Session,
        poll: Poll,
        *,
        end: datetime,
        closed_by: str | None,
        language: str,
        send_end_event: bool,
        reply_to: str | None = None,
        late: bool = False,
        cancel_timer: bool = True,
    ) -> None:
        """Store the result at ``end``, tell clients the poll ended (if asked), post results."""
        if cancel_timer:
            self.timers.cancel(session, close_task_key(poll))
        self.timers.cancel(session, nudge_task_key(poll))  # no nudge once closed
        closing = Closing(end, closed_by, language, late, reply_to)
        if poll.kind == "consent":
            await self._close_decision(session, poll, closing)
            return
        if poll.kind in ("score", "ranked", "when"):
            await self._close_by_replies(session, poll, closing)
            return
        result = poll_tally(session, poll, end)
        members, quorum = await self.quorum(poll, result.voters)
        PollRepository(session).mark_closed(
            poll,
            closed_at=end,
            closed_by=closed_by,
            result=_result_snapshot(result, quorum, members),
        )
        if (poll.settings or {}).get("anonymous"):
            PollRepository(session).forget_anonymous_voters(poll)  # no voter–answer link kept
        texts = dict(poll.answers)
        winners = [texts[answer_id] for answer_id in result.winners]
        if send_end_event and poll.start_event_id:
            if winners:
                summary = self.renderer.text(
                    language,
                    N_("Poll {poll} is closed. Winning answer: {winners}"),
                    poll=poll.short_id,
                    winners=", ".join(winners),
                )
            else:
                summary = self.renderer.text(
                    language, N_("Poll {poll} is closed. No votes."), poll=poll.short_id
                )
            self.outbox.enqueue(
                session,
                key=end_event_key(poll),
                room_id=poll.room_id,
                content=build_poll_end(poll.start_event_id, summary.body),
                event_type=UNSTABLE_END,
            )
        rendered = self.renderer.render(
            "polls_results",
            language,
            poll_id=poll.short_id,
            question=poll.question,
            rows=_rows(poll, result),
            voters=result.voters,
            spoiled=result.spoiled,
            winners=winners,
            late=late,
            quorum=_quorum_view(quorum),
        )
        self._post_results(session, poll, rendered, reply_to=reply_to)

    def _post_results(
        self, session: Session, poll: Poll, rendered: Rendered, *, reply_to: str | None
    ) -> None:
        self.outbox.enqueue(
            session,
            key=f"pollresults:{poll.short_id}",
            room_id=poll.room_id,
            content=notice_content(rendered, reply_to=reply_to),
        )

    async def _close_by_replies(self, session: Session, poll: Poll, closing: Closing) -> None:
        """Score averages or the instant-runoff's rounds, stated with their rule."""
        end, closed_by, language, late = (
            closing.end,
            closing.closed_by,
            closing.language,
            closing.late,
        )
        summary = poll_tally(session, poll, end)  # what the digest shows of it
        members, quorum = await self.quorum(poll, summary.voters)
        PollRepository(session).mark_closed(
            poll,
            closed_at=end,
            closed_by=closed_by,
            result=_result_snapshot(summary, quorum, members),
        )
        texts = dict(poll.answers)
        anonymous = bool((poll.settings or {}).get("anonymous"))
        details: dict[str, Any]
        if poll.kind == "ranked":
            ranked = ranked_result(session, poll, end)
            details = {
                "rounds": [
                    {
                        "counts": [(texts[a], count) for a, count in round_.counts.items()],
                        "exhausted": round_.exhausted,
                        "eliminated": texts[round_.eliminated] if round_.eliminated else None,
                    }
                    for round_ in ranked.rounds
                ]
            }
        elif poll.kind == "when":
            slots = when_result(session, poll, end)
            details = {
                "slots": [
                    {
                        "number": index + 1,
                        "text": text,
                        "yes": slots.counts[answer_id].yes,
                        "maybe": slots.counts[answer_id].maybe,
                        "no": slots.counts[answer_id].no,
                        "best": answer_id == slots.best,
                    }
                    for index, (answer_id, text) in enumerate(poll.answers)
                ]
            }
        else:
            scores = scores_result(session, poll, end)
            details = {
                "rows": [
                    {
                        "number": index + 1,
                        "text": text,
                        "average": _decimal(scores.averages[answer_id], language),
                        "ratings": scores.ratings[answer_id],
                        "winner": answer_id in scores.winners,
                    }
                    for index, (answer_id, text) in enumerate(poll.answers)
                ]
            }
        rendered = self.renderer.render(
            "polls_replies_results",
            language,
            poll_id=poll.short_id,
            kind=poll.kind,
            question=poll.question,
            voters=summary.voters,
            winners=[texts[a] for a in summary.winners],
            late=late,
            quorum=_quorum_view(quorum),
            **details,
        )
        self._post_results(
            session, poll, rendered, reply_to=closing.reply_to or poll.notice_event_id
        )
        if anonymous:
            PollRepository(session).forget_anonymous_voters(poll)  # counted: unlink voters

    async def _close_decision(self, session: Session, poll: Poll, closing: Closing) -> None:
        """Apply the consent rule and post the result, objections listed with their reasons."""
        end, closed_by, language, late = (
            closing.end,
            closing.closed_by,
            closing.language,
            closing.late,
        )
        result = decision_result(session, poll, end)
        members, quorum = await self.quorum(poll, result.voters)
        # short of the quorum nothing is adopted; a quorum that could not be checked blocks not
        outcome = "no_quorum" if quorum and quorum.reached is False else result.outcome
        PollRepository(session).mark_closed(
            poll,
            closed_at=end,
            closed_by=closed_by,
            result=_decision_snapshot(result, outcome, quorum, members),
        )
        rendered = self.renderer.render(
            "polls_decision_results",
            language,
            poll_id=poll.short_id,
            text=poll.question,
            rows=[
                {
                    "emoji": emoji,
                    "text": self.renderer.text(language, label).body,
                    "count": result.counts.get(answer_id, 0),
                }
                for answer_id, emoji, label in ANSWERS
            ],
            voters=result.voters,
            outcome=outcome,
            quorum=_quorum_view(quorum),
            objections=[
                {
                    "name": self.gateway.display_name(poll.room_id, objection.voter),
                    "reason": objection.reason,
                }
                for objection in result.objections
            ],
            late=late,
        )
        # in reply to the decision's message, where the votes and reasons are
        self._post_results(
            session, poll, rendered, reply_to=closing.reply_to or poll.notice_event_id
        )
        if (poll.settings or {}).get("anonymous"):
            PollRepository(session).forget_anonymous_voters(poll)  # counted: unlink voters


@dataclass
class ClosingTimer:
    """The `poll_close` task: closes a poll at its end time, in its room's language."""

    closer: Closer
    defaults: BotConfig

    async def fire(self, run: TaskRun) -> None:
        """Close the poll unless it was closed or cancelled meanwhile."""
        poll_id = run.task.payload.get("poll_id")
        poll = PollRepository(run.session).get(poll_id) if isinstance(poll_id, int) else None
        if poll is None or poll.status != "open":
            return
        stored = RoomSettingsRepository(run.session).get(poll.room_id)
        room = resolve(poll.room_id, stored, self.defaults)
        await self.closer.close(
            run.session,
            poll,
            end=run.task.due_at,
            closed_by=None,
            language=room.language,
            send_end_event=poll.origin == "command",
            late=run.is_late,
            cancel_timer=False,
        )

    def describe_missed(self, task: ScheduledTask, language: str) -> str:
        """How a closing missed while the bot was down is listed."""
        poll_id = task.payload.get("poll_id")
        return self.closer.renderer.text(
            language,
            N_("Poll S{id} was not closed on time: close it with !clore S{id}."),
            id=poll_id,
        ).body
