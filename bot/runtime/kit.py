"""The feature kit: everything a feature may use and everything it may declare.

A feature package imports from here (and from ``bot.text`` and ``storage``), never from the
application: the builder (``bot.runtime.builder``) hands each feature its ``Services`` and
plugs in what the feature returns as a ``Feature``. Features that need one another meet through
named ``Links`` (settings listeners, cancel-by-ID providers), never by importing each other's
modules or looking each other up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from bot.runtime.clock import Clock
from bot.runtime.config import Config
from bot.runtime.context import Context
from bot.runtime.messages import MessageRenderer
from bot.runtime.outbox import Outbox, Sender, SentHook
from bot.runtime.router import Command
from bot.runtime.timers import TaskKind, Timers
from bot.text.i18n import Translations
from storage.db import Database

MessageHook = Callable[[Context, str, dict[str, Any]], Awaitable[None]]
ReactionHook = Callable[[Context, str, str], Awaitable[None]]
RedactionHook = Callable[[Context, str], Awaitable[None]]
EditHook = Callable[[Context, str, dict[str, Any]], Awaitable[None]]
PollHook = Callable[[Context, dict[str, Any]], Awaitable[None]]

# Called in the transaction of `!réglages` after a room setting changed (the new values).
SettingsListener = Callable[[Context, dict[str, object]], None]
# Cancels the object numbered N of a typed ID (`S2` → 2) for `!annuler`.
Canceller = Callable[[Context, int], Awaitable[None]]
# Work a feature does once at start, before or after the timers are rebuilt.
StartStep = Callable[[], None]


@dataclass(frozen=True)
class PageRequest:
    """A request for what one room's web link shows (the web service checked the link)."""

    room_id: str
    path: str  # what follows the link's token: "" for the link itself, else one segment
    query: Mapping[str, str]
    base_url: str  # the link itself, public, without a trailing slash (for links in pages)
    now: datetime


@dataclass(frozen=True)
class Page:
    """What a web link answers: the body, its type, and when what it shows last changed."""

    body: bytes
    content_type: str
    last_modified: datetime | None = None


# Serves one kind of web link (`agenda`, `proposals`, `digest`): None means nothing there (404).
PageProvider = Callable[[Session, PageRequest], Page | None]


class FeatureGateway(Protocol):
    """What features may ask of the Matrix layer (``bot.matrix.gateway`` provides it; tests give
    a recording fake). Nothing else of Matrix reaches a feature."""

    @property
    def encryption_ready(self) -> bool: ...

    def is_encrypted(self, room_id: str) -> bool: ...

    async def fetch_is_encrypted(self, room_id: str) -> bool: ...

    def display_name(self, room_id: str, user_id: str) -> str: ...

    async def may_redact_others(self, room_id: str) -> bool: ...

    async def membership(self, room_id: str, user_id: str) -> str | None: ...

    async def joined_member_ids(self, room_id: str) -> list[str]: ...

    async def invite(self, room_id: str, user_id: str) -> bool: ...

    async def create_direct_room(self, user_id: str, *, encrypted: bool) -> str | None: ...

    async def room_name(self, room_id: str) -> str | None: ...

    async def resolve_alias(self, alias: str) -> str | None: ...

    async def upload_file(
        self, data: bytes, *, content_type: str, filename: str, encrypt: bool
    ) -> dict[str, Any]: ...


class Gateway(Sender, FeatureGateway, Protocol):
    """The whole port the runtime is built on: sending (the outbox) and what features ask."""


class MemberNames(Protocol):
    """How members are named in a room (the Matrix layer knows)."""

    def display_name(self, room_id: str, user_id: str) -> str: ...


class RedactionRights(Protocol):
    """Whether the bot may redact others' events in a room (the Matrix layer knows)."""

    async def may_redact_others(self, room_id: str) -> bool: ...


@dataclass
class Hooks:
    """What features listen to besides commands."""

    messages: list[MessageHook] = field(default_factory=list)
    reactions: list[ReactionHook] = field(default_factory=list)
    redactions: list[RedactionHook] = field(default_factory=list)
    edits: list[EditHook] = field(default_factory=list)
    polls: list[PollHook] = field(default_factory=list)

    def extend(self, other: Hooks) -> None:
        self.messages += other.messages
        self.reactions += other.reactions
        self.redactions += other.redactions
        self.edits += other.edits
        self.polls += other.polls


@dataclass
class Links:
    """Where features meet: filled by the builder from every feature's declarations, read by
    the features that serve them (settings calls its listeners, `!annuler` its cancellers)."""

    settings_listeners: list[SettingsListener] = field(default_factory=list)
    cancellers: dict[str, Canceller] = field(default_factory=dict)
    # link kind → what its pages show (the web service serves them)
    pages: dict[str, PageProvider] = field(default_factory=dict)


@dataclass
class Services:
    """What features may use. Built once by the builder."""

    config: Config
    database: Database
    clock: Clock
    outbox: Outbox
    timers: Timers
    renderer: MessageRenderer
    translations: Translations
    gateway: FeatureGateway
    links: Links = field(default_factory=Links)


@dataclass
class Feature:
    """What a feature adds to the bot."""

    commands: list[Command] = field(default_factory=list)
    hooks: Hooks = field(default_factory=Hooks)
    task_kinds: list[TaskKind] = field(default_factory=list)
    sent_hooks: list[tuple[str, SentHook]] = field(default_factory=list)
    settings_listeners: list[SettingsListener] = field(default_factory=list)
    # typed ID prefix (`S`) → how to cancel one with `!annuler`
    cancellers: dict[str, Canceller] = field(default_factory=dict)
    # once at start: before the timers are rebuilt (so a task is not reported missed) …
    before_timers: list[StartStep] = field(default_factory=list)
    # … and after (so what the rebuild marked is known)
    after_timers: list[StartStep] = field(default_factory=list)
    # web link kind (`agenda`) → what its pages show, served when `[web]` is on
    pages: dict[str, PageProvider] = field(default_factory=dict)
