"""The unit test kit: the bot as the application builds it (``build_runtime``: router, intake,
outbox, timers, every feature), driven without a homeserver. A recording sender stands in for
the gateway, power levels are given by the test. The fixtures in ``conftest.py`` build it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.matrix.gateway import SendError
from bot.runtime.builder import FeatureFactory, build_runtime
from bot.runtime.clock import FrozenClock, to_millis
from bot.runtime.config import Config, load_config
from bot.tools.shipped_config import EXAMPLE, environment
from storage.db import Database

BOT = "@concerto:test"
ROOM = "!room:test"


@dataclass
class RecordingSender:
    """Records every send; can be told to fail the next sends."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[SendError] = field(default_factory=list)
    txn_ids: list[str] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        self.txn_ids.append(txn_id)
        if self.failures:
            raise self.failures.pop(0)
        event_id = f"$sent{next(self._ids)}"
        self.sent.append(
            {
                "room_id": room_id,
                "type": event_type,
                "content": content,
                "event_id": event_id,
                "txn_id": txn_id,
            }
        )
        return event_id

    async def find_sent(self, room_id: str, txn_id: str) -> str | None:
        for item in self.sent:
            if item["room_id"] == room_id and item.get("txn_id") == txn_id:
                return str(item["event_id"])
        return None

    encryption_ready: bool = False
    encrypted_rooms: set[str] = field(default_factory=set)

    def is_encrypted(self, room_id: str) -> bool:
        return room_id in self.encrypted_rooms

    async def fetch_is_encrypted(self, room_id: str) -> bool:
        return room_id in self.encrypted_rooms

    async def upload_file(
        self, data: bytes, *, content_type: str, filename: str, encrypt: bool
    ) -> dict[str, Any]:
        self.sent.append({"type": "upload", "data": data, "content_type": content_type})
        if encrypt:
            return {"file": {"url": f"mxc://test/{filename}", "key": {"k": "test"}}}
        return {"url": f"mxc://test/{filename}"}

    def display_name(self, room_id: str, user_id: str) -> str:
        return user_id.split(":")[0].lstrip("@").capitalize()

    redactor_rooms: set[str] = field(default_factory=set)  # where the bot may redact others

    async def may_redact_others(self, room_id: str) -> bool:
        return room_id in self.redactor_rooms

    # The homeserver knows no names, aliases or members and creates no rooms: tests that need
    # them replace these methods.
    async def room_name(self, room_id: str) -> str | None:
        return None

    async def resolve_alias(self, alias: str) -> str | None:
        return None

    async def membership(self, room_id: str, user_id: str) -> str | None:
        return None

    members: dict[str, list[str]] = field(default_factory=dict)  # joined, by room

    async def joined_member_ids(self, room_id: str) -> list[str]:
        return list(self.members.get(room_id, []))

    async def invite(self, room_id: str, user_id: str) -> bool:
        return False

    async def create_direct_room(self, user_id: str, *, encrypted: bool) -> str | None:
        return None


def shipped_config(language: str = "fr", data_dir: Path | None = None) -> Config:
    """config.example.toml as shipped; ``language`` stands for a room set to that language,
    ``data_dir`` for where a deployment keeps its files."""
    chosen = {("matrix", "homeserver"): "http://127.0.0.1:1", ("matrix", "user_id"): BOT}
    if data_dir is not None:
        chosen[("storage", "data_dir")] = str(data_dir)
    config = load_config(EXAMPLE, environ=environment(chosen))
    return replace(config, bot=replace(config.bot, language=language))


class Harness:
    """The bot built by the application's builder; ``say`` and ``deliver`` hand it events as
    a sync would and return what it sent."""

    def __init__(
        self,
        database: Database,
        clock: FrozenClock,
        config: Config,
        *,
        sender: RecordingSender | None = None,
        levels: dict[str, float] | None = None,
        extra_features: Sequence[FeatureFactory] = (),
    ) -> None:
        self.database = database
        self.clock = clock
        self.config = config
        self.sender = sender if sender is not None else RecordingSender()
        self.levels: dict[str, float] = levels if levels is not None else {}
        self.extra_features = tuple(extra_features)
        self.runtime = build_runtime(
            config,
            database=database,
            clock=clock,
            gateway=self.sender,
            power_level=self._power_level,
            display_name=self.sender.display_name,
            extra_features=self.extra_features,
        )
        self.services = self.runtime.services
        self.translations = self.services.translations
        self.renderer = self.services.renderer
        self.outbox = self.runtime.outbox
        self.timers = self.runtime.timers
        self.registry = self.runtime.registry
        self.hooks = self.runtime.hooks
        self.intake = self.runtime.intake
        self._events = itertools.count(1)

    def start(self) -> None:
        """What the application does at start, without the scheduler and the sync: commands
        still waiting keep their turn, the start steps run around the rebuild of the timers."""
        self.intake.restore_waiting()
        self.runtime.run_start_steps(after_timers=False)
        self.timers.rebuild()
        self.runtime.run_start_steps(after_timers=True)

    def restart(self) -> Harness:
        """The bot started again on the same database, homeserver and power levels: a new
        runtime that knows only what was stored."""
        restarted = Harness(
            self.database,
            self.clock,
            self.config,
            sender=self.sender,
            levels=self.levels,
            extra_features=self.extra_features,
        )
        restarted.start()
        return restarted

    async def _power_level(self, room_id: str, user_id: str) -> float:
        return self.levels.get(user_id, 0)

    def event(
        self,
        sender: str,
        event_type: str,
        content: dict[str, Any],
        *,
        age: timedelta = timedelta(0),
    ) -> dict[str, Any]:
        sent_at: datetime = self.clock.now() - age
        return {
            "event_id": f"$in{next(self._events)}",
            "sender": sender,
            "type": event_type,
            "content": content,
            "origin_server_ts": to_millis(sent_at),
        }

    def message(self, sender: str, body: str, *, age: timedelta = timedelta(0)) -> dict[str, Any]:
        """A text message."""
        return self.event(sender, "m.room.message", {"msgtype": "m.text", "body": body}, age=age)

    def reaction(
        self, sender: str, target: str, key: str, *, age: timedelta = timedelta(0)
    ) -> dict[str, Any]:
        """A reaction ``key`` to the event ``target``."""
        relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
        return self.event(sender, "m.reaction", {"m.relates_to": relation}, age=age)

    def redaction(
        self, sender: str, target: str, *, age: timedelta = timedelta(0)
    ) -> dict[str, Any]:
        """The removal of the event ``target``."""
        return self.event(sender, "m.room.redaction", {"redacts": target}, age=age)

    def edit(
        self, sender: str, target: str, body: str, *, age: timedelta = timedelta(0)
    ) -> dict[str, Any]:
        """A new text for the message ``target``, as clients send it."""
        content = {
            "msgtype": "m.text",
            "body": f"* {body}",
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": target},
        }
        return self.event(sender, "m.room.message", content, age=age)

    async def deliver(self, *events: dict[str, Any], room_id: str = ROOM) -> list[dict[str, Any]]:
        """Hand events to the intake as a sync would, send what was queued, return the sends."""
        before = len(self.sender.sent)
        await self.intake.handle_room_events(room_id, list(events))
        await self.outbox.send_due()
        return self.sender.sent[before:]

    async def say(self, sender: str, body: str, *, age: timedelta = timedelta(0)) -> list[str]:
        """A person sends a text message; returns the bodies of what the bot sent back."""
        sent = await self.deliver(self.message(sender, body, age=age))
        return [item["content"].get("body", "") for item in sent]
