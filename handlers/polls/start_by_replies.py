"""Polls answered by replying to their message: score and ranked polls (`!sondage … ; type:
score|ranked`) and meeting-time polls (`!quand` / `!when`). They have no native poll event
(their semantics do not fit MSC3381); anonymous ones are answered by direct message."""

from __future__ import annotations

from bot.runtime.context import Context
from bot.text.dates import format_when
from handlers.polls.args import PollRequest, WhenRequest, parse_when_request
from handlers.polls.starting import (
    numbered_answers,
    send_started_notice,
    settings_with_secret,
    store_poll,
)

# One example answer per slot in the `!quand` notice, cycling through the three words.
WHEN_EXAMPLE_WORDS = {"fr": ("oui", "non", "peut-être"), "en": ("yes", "no", "maybe")}


def read_when_request(ctx: Context) -> WhenRequest:
    return parse_when_request(ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language)


def start_by_replies(ctx: Context, request: PollRequest) -> None:
    """A score or ranked poll: a message people answer by replying to it."""
    poll = store_poll(
        ctx,
        kind=request.kind,
        question=request.question,
        answers=numbered_answers(request.answers),
        max_selections=1,
        settings=settings_with_secret(request),
        closes_at=request.closes_at,
    )
    send_started_notice(
        ctx,
        poll,
        "polls_replies_started",
        reply_to=ctx.event_id,
        anonymous=request.anonymous,
        kind=poll.kind,
        question=poll.question,
        answers=[text for _, text in poll.answers],
        example=" ".join(str(n) for n in reversed(range(1, len(poll.answers) + 1))),
        quorum=request.quorum,
    )


async def quand(ctx: Context) -> None:
    """A meeting-time poll: each slot answered yes / maybe / no by reply."""
    request: WhenRequest = ctx.arguments
    tz, language = ctx.room.tz, ctx.language
    poll = store_poll(
        ctx,
        kind="when",
        question=request.subject,
        answers=numbered_answers(
            [format_when(slot, tz=tz, language=language) for slot in request.slots]
        ),
        max_selections=1,
        settings=settings_with_secret(request),
        closes_at=request.closes_at,
    )
    words = WHEN_EXAMPLE_WORDS["fr" if language == "fr" else "en"]
    send_started_notice(
        ctx,
        poll,
        "polls_replies_started",
        reply_to=ctx.event_id,
        kind=poll.kind,
        anonymous=request.anonymous,
        question=poll.question,
        answers=[text for _, text in poll.answers],
        example=" ".join(words[n % 3] for n in range(len(poll.answers))),
        quorum=request.quorum,
    )
