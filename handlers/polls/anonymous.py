"""Anonymous polls (`!sondage … ; anonyme: oui`): ballots by direct message, results without
names, and no link kept between a voter and their answer once the poll is closed.

What is stored, exactly: while the poll is open, each ballot row holds the answer and an HMAC
of the voter's Matrix ID under a random secret kept with the poll, so that a new answer
replaces the old one and nobody votes twice; at the close (or the cancellation) the secret and
every key are deleted, leaving answers that point to no one. `!bulletin S3`, typed in the
room, shows that someone asked for a ballot, not what they chose. The direct messages
themselves stay in the direct room, as any message does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway
from bot.runtime.messages import notice_content
from bot.text.errors import UserError
from bot.text.fields import fold_key
from bot.text.i18n import N_
from handlers.polls.args import parse_poll_id
from handlers.polls.availability import read_availability
from handlers.polls.consent import read_consent
from handlers.polls.ranked import read_ranking
from handlers.polls.scores import read_scores
from handlers.shared.direct import open_direct_room
from storage.poll_models import Poll
from storage.polls import PollRepository
from storage.privacy import PrivacyRepository

BALLOT = re.compile(r"^[sS](\d{1,9})\s*[:,]?\s+(.+)$", re.DOTALL)
BALLOT_RECEIVED = "🗳️"


def new_secret() -> str:
    return secrets.token_hex(32)


def voter_key(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def is_anonymous(poll: Poll) -> bool:
    return bool((poll.settings or {}).get("anonymous"))


def read_choice(text: str, answer_ids: Sequence[str], max_selections: int) -> tuple[str, ...]:
    """``2`` or ``1 3`` → the answer IDs; a UserError saying what is wrong."""
    words = [w for w in re.split(r"[\s,;]+", text.strip()) if w]
    if not words or not all(w.isdigit() and 1 <= int(w) <= len(answer_ids) for w in words):
        raise UserError(
            N_("Answer with the number of your choice, from 1 to {max}, e.g. “{example}”."),
            max=len(answer_ids),
            example="S1 2",
        )
    chosen = tuple(dict.fromkeys(answer_ids[int(w) - 1] for w in words))
    if len(chosen) > max_selections:
        raise UserError(N_("At most {max} choices in this poll."), max=max_selections)
    return chosen


def read_ballot(poll: Poll, text: str) -> tuple[str, ...]:
    """An anonymous answer read by the rule of the poll's kind."""
    ids = [answer_id for answer_id, _ in poll.answers]
    if poll.kind == "ranked":
        return read_ranking(text, ids)
    if poll.kind == "score":
        return read_scores(text, ids)
    if poll.kind == "when":
        return read_availability(text, ids)
    if poll.kind == "consent":
        return read_consent(text, lambda words: fold_key(words).replace("’", "'"))
    return read_choice(text, ids, poll.max_selections)


@dataclass
class AnonymousBallots:
    gateway: FeatureGateway

    async def bulletin(self, ctx: Context) -> None:
        """`!bulletin S3`: a ballot for an open anonymous poll, sent by direct message."""
        poll = PollRepository(ctx.session).get_in_room(ctx.room_id, ctx.arguments)
        if poll is None or not is_anonymous(poll):
            raise UserError(N_("There is no anonymous poll S{id} in this room."), id=ctx.arguments)
        if poll.status != "open":
            raise UserError(N_("Poll {poll} is closed."), poll=poll.short_id)
        room_id = await open_direct_room(
            self.gateway,
            ctx.session,
            ctx.sender,
            ctx.clock.now(),
            encrypted=self.gateway.encryption_ready,
        )
        rendered = ctx.renderer.render(
            "polls_anonymous_ballot",
            ctx.language,
            poll_id=poll.short_id,
            question=poll.question,
            answers=[text for _, text in poll.answers],
            max_selections=poll.max_selections,
            kind=poll.kind,
        )
        ctx.outbox.enqueue(
            ctx.session,
            key=f"anonballot:{ctx.event_id}",
            room_id=room_id,
            content=notice_content(rendered),
        )
        ctx.reply(
            N_("I sent you a ballot for poll {poll} in a direct message."), poll=poll.short_id
        )

    async def on_direct_message(
        self, ctx: Context, text: str, *, acknowledge: str | None = None
    ) -> bool:
        """``S3 2`` in the person's direct room with the bot: their anonymous ballot, which
        replaces any earlier one. Whether the message was one (then it is acknowledged, or
        answered with what is wrong). ``acknowledge``: the message the 🗳️ goes on when it is
        not this event (an edited ballot: clients show reactions on the original)."""
        match = BALLOT.match(text.strip())
        if match is None:
            return False
        if PrivacyRepository(ctx.session).get_direct_room(ctx.sender) != ctx.room_id:
            return False  # only in the bot's direct room: never a ballot typed in public
        poll = PollRepository(ctx.session).get(int(match.group(1)))
        if poll is None or not is_anonymous(poll):
            return False
        if poll.status != "open":
            ctx.reply(N_("Poll {poll} is closed: your answer was not counted."), poll=poll.short_id)
            return True
        if await self.gateway.membership(poll.room_id, ctx.sender) != "join":
            ctx.reply(
                N_("Only members of the poll's room can vote in poll {poll}."), poll=poll.short_id
            )
            return True
        try:
            chosen = read_ballot(poll, match.group(2))
        except UserError as error:
            ctx.reply(error.message)
            return True
        secret = str((poll.settings or {}).get("secret", ""))
        PollRepository(ctx.session).put_anonymous_ballot(
            poll, voter_key=voter_key(secret, ctx.sender), selections=chosen
        )
        ctx.react(BALLOT_RECEIVED, acknowledge)
        return True


def read_ballot_request(ctx: Context) -> int:
    words = ctx.args.split()
    return parse_poll_id(words[0] if words else "")
