"""The steps every poll-starting command shares: storing the poll with its closing timer and
nudge, and posting the notice that confirms it (the outbox key `poll:S2:notice` lets the sent
hook learn the notice's event ID)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.runtime.context import Context
from bot.runtime.messages import notice_content
from bot.text.dates import format_when
from handlers.polls.anonymous import new_secret
from handlers.polls.closing import TASK_KIND, close_task_key
from handlers.polls.nudges import plan_nudge
from storage.poll_models import Poll
from storage.polls import PollRepository

SENT_PREFIX = "poll:"

__all__ = [
    "SENT_PREFIX",
    "StartRequest",
    "closes_text",
    "numbered_answers",
    "send_started_notice",
    "set_closing_timer",
    "settings_with_secret",
    "store_poll",
]


class StartRequest(Protocol):
    """What every start command's arguments give: options and whether ballots are secret."""

    @property
    def anonymous(self) -> bool: ...

    def settings(self) -> dict[str, object]: ...


def settings_with_secret(request: StartRequest) -> dict[str, object]:
    """The poll's settings, with the secret its anonymous ballots are keyed by, if any."""
    settings = request.settings()
    if request.anonymous:
        settings["secret"] = new_secret()
    return settings


def numbered_answers(texts: Sequence[str]) -> list[tuple[str, str]]:
    """Answer IDs `a1`, `a2`… for polls without a native poll event to take IDs from."""
    return [(f"a{n}", text) for n, text in enumerate(texts, start=1)]


def store_poll(
    ctx: Context,
    *,
    kind: str,
    question: str,
    answers: Sequence[tuple[str, str]],
    max_selections: int,
    settings: dict[str, object],
    closes_at: datetime | None,
) -> Poll:
    """Store the poll the command starts (its room, author, time and command event from the
    context) and set its closing timer and nudge."""
    poll = PollRepository(ctx.session).add(
        room_id=ctx.room_id,
        author=ctx.sender,
        kind=kind,
        question=question,
        answers=answers,
        max_selections=max_selections,
        settings=settings,
        created_at=ctx.clock.now(),
        closes_at=closes_at,
        command_event_id=ctx.event_id,
    )
    set_closing_timer(ctx, poll)
    return poll


def set_closing_timer(ctx: Context, poll: Poll) -> None:
    """The closing timer, and the nudge a day before (it fires only where nudges are on)."""
    plan_nudge(ctx, poll)
    if poll.closes_at is not None:
        ctx.timers.add(
            ctx.session,
            key=close_task_key(poll),
            kind=TASK_KIND,
            room_id=ctx.room_id,
            due_at=poll.closes_at,
            payload={"poll_id": poll.id},
        )


def closes_text(ctx: Context, poll: Poll) -> str | None:
    """When the poll closes, in the room's time zone and language; None if it has no end."""
    if poll.closes_at is None:
        return None
    return format_when(poll.closes_at, tz=ctx.room.tz, language=ctx.language)


def send_started_notice(
    ctx: Context, poll: Poll, template: str, *, reply_to: str | None, **fields: object
) -> None:
    """Render ``template`` with the poll's ID and closing time, and post it as the poll's notice."""
    rendered = ctx.renderer.render(
        template, ctx.language, poll_id=poll.short_id, closes=closes_text(ctx, poll), **fields
    )
    ctx.send(
        f"{SENT_PREFIX}{poll.short_id}:notice",
        notice_content(rendered, reply_to=reply_to, thread_root=ctx.thread_root),
    )
