"""`!sondage` / `!poll`: a choose-N poll, sent as a native MSC3381 poll that Element renders,
with a notice listing the answers with number emoji for clients that do not show polls; an
anonymous one is answered by direct message instead. Score and ranked polls are handed to
``handlers.polls.start_by_replies``."""

from __future__ import annotations

from bot.runtime.context import Context
from handlers.polls.args import PollRequest, parse_poll_request
from handlers.polls.events import UNSTABLE_START, build_poll_start, vote_emoji
from handlers.polls.start_by_replies import start_by_replies
from handlers.polls.starting import (
    SENT_PREFIX,
    numbered_answers,
    send_started_notice,
    settings_with_secret,
    store_poll,
)
from storage.poll_models import Poll


def read_poll_request(ctx: Context) -> PollRequest:
    return parse_poll_request(ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language)


async def sondage(ctx: Context) -> None:
    """Start a poll: store it, send the poll event and the notice, set its closing timer."""
    request: PollRequest = ctx.arguments
    if request.kind != "choice":
        start_by_replies(ctx, request)
    elif request.anonymous:
        _start_anonymous(ctx, request)
    else:
        _start_native(ctx, request)


def _start_native(ctx: Context, request: PollRequest) -> None:
    content, ids = build_poll_start(
        request.question,
        list(request.answers),
        request.max_selections,
        disclosed=not request.hide_results,
    )
    poll = store_poll(
        ctx,
        kind="choice",
        question=request.question,
        answers=list(zip(ids, request.answers, strict=True)),
        max_selections=request.max_selections,
        settings=request.settings(),
        closes_at=request.closes_at,
    )
    ctx.send(f"{SENT_PREFIX}{poll.short_id}:start", content, event_type=UNSTABLE_START)
    send_notice(ctx, poll, ctx.event_id)


def _start_anonymous(ctx: Context, request: PollRequest) -> None:
    """An anonymous poll: no native poll (its responses are public), ballots by DM."""
    poll = store_poll(
        ctx,
        kind="choice",
        question=request.question,
        answers=numbered_answers(request.answers),
        max_selections=request.max_selections,
        settings=settings_with_secret(request),
        closes_at=request.closes_at,
    )
    send_started_notice(
        ctx,
        poll,
        "polls_anonymous_started",
        reply_to=ctx.event_id,
        question=poll.question,
        answers=[text for _, text in poll.answers],
        max_selections=poll.max_selections,
        quorum=request.quorum,
    )


def send_notice(ctx: Context, poll: Poll, reply_to: str) -> None:
    """The confirmation of a native poll, also for polls started from a client: ID, answers
    with their number emoji, closing time, how to close."""
    send_started_notice(
        ctx,
        poll,
        "polls_started",
        reply_to=reply_to,
        question=poll.question,
        answers=[
            {"emoji": vote_emoji(index) or "", "text": text}
            for index, (_, text) in enumerate(poll.answers)
        ],
        max_selections=poll.max_selections,
        origin=poll.origin,
        quorum=(poll.settings or {}).get("quorum"),
        hidden=(poll.settings or {}).get("results") == "end",
    )
