"""`!décision` / `!decision`: a proposal decided by consent, voted with four reactions (the
sent hook puts them under its message) or, when anonymous, by direct message."""

from __future__ import annotations

from bot.runtime.context import Context
from handlers.polls.args import DecisionRequest, parse_decision_request
from handlers.polls.consent import ANSWERS, EMOJI
from handlers.polls.starting import send_started_notice, settings_with_secret, store_poll


def read_decision_request(ctx: Context) -> DecisionRequest:
    return parse_decision_request(
        ctx.args, now=ctx.clock.now(), tz=ctx.room.tz, language=ctx.language
    )


async def decision(ctx: Context) -> None:
    """Propose a decision by consent: store it, post its message, set its closing timer."""
    request: DecisionRequest = ctx.arguments
    poll = store_poll(
        ctx,
        kind="consent",
        question=request.text,
        answers=[(answer_id, ctx.t(label)) for answer_id, _, label in ANSWERS],
        max_selections=1,
        settings=settings_with_secret(request),
        closes_at=request.closes_at,
    )
    send_started_notice(
        ctx,
        poll,
        "polls_decision_started",
        reply_to=ctx.event_id,
        text=poll.question,
        answers=[{"emoji": EMOJI[answer_id], "text": text} for answer_id, text in poll.answers],
        anonymous=request.anonymous,
        quorum=(poll.settings or {}).get("quorum"),
    )
