"""What the polls' nudges and the deadlines' nudges share: a day ahead, in rooms that asked for
nudges (`!réglages relances on`), one message mentioning the members who have not acted yet,
never above the room's member cap, never mentioning the bot or someone who opted out
(`!pas-de-relance`, everywhere)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from bot.runtime.config import BotConfig
from bot.runtime.kit import FeatureGateway
from bot.runtime.messages import MessageRenderer, ping_content
from bot.runtime.outbox import Outbox
from bot.runtime.room_settings import RoomView, resolve
from storage.polls import NudgeOptOutRepository
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

NUDGE_BEFORE = timedelta(hours=24)


@dataclass
class NudgeSender:
    """Finds whom a nudge mentions and posts it; each feature's task decides what to nudge."""

    outbox: Outbox
    renderer: MessageRenderer
    gateway: FeatureGateway
    defaults: BotConfig
    bot_user_id: str

    async def targets(
        self, session: Session, room_id: str, acted: Callable[[], set[str]]
    ) -> tuple[RoomView, list[str]]:
        """The room's settings and the members to mention, sorted: none if the room's nudges
        are off, its members are unknown or more than its cap; ``acted`` gives who already
        answered (asked only when someone could be mentioned)."""
        room = resolve(room_id, RoomSettingsRepository(session).get(room_id), self.defaults)
        if not room.nudges:
            return room, []
        try:
            members = await self.gateway.joined_member_ids(room_id)
        except Exception:  # no member list, no nudge: better silent than wrong
            log.warning("no nudge: members unknown", extra={"room_id": room_id})
            return room, []
        members = [m for m in members if m != self.bot_user_id]
        if len(members) > room.nudge_max_members:
            return room, []
        skipped = acted() | NudgeOptOutRepository(session).list_user_ids()
        return room, sorted(m for m in members if m not in skipped)

    def people(self, room_id: str, targets: list[str]) -> list[dict[str, str]]:
        """The mentioned members with their display names, for the nudge's template."""
        return [{"user_id": m, "name": self.gateway.display_name(room_id, m)} for m in targets]

    def send(
        self,
        session: Session,
        *,
        key: str,
        room_id: str,
        targets: list[str],
        template: str,
        language: str,
        **fields: object,
    ) -> None:
        """Render the nudge (its ``people`` added) and post it, mentioning ``targets``."""
        rendered = self.renderer.render(
            template, language, **fields, people=self.people(room_id, targets)
        )
        self.outbox.enqueue(
            session, key=key, room_id=room_id, content=ping_content(rendered, user_ids=targets)
        )
