"""People for integration tests: real Matrix users driving a real homeserver through matrix-nio.

A :class:`Person` is a logged-in ``nio.AsyncClient`` with its own background sync loop. Every
timeline event of every room the person can see is stored, in order, as the raw JSON dict the
server sent (``event.source``), so tests can wait for and inspect what really went over the wire.

Waiting never sleep-polls: the sync loop wakes waiters through an ``asyncio.Condition`` each time
new events arrive. When a sync comes back ``limited`` (a gap, because more than 100 events
arrived between two syncs), the gap is filled from ``/messages`` before the events are stored, so
a test never misses an event.

Small predicate builders (:func:`text`, :func:`reaction_to`, :func:`edit_of`,
:func:`redaction_of`, :func:`of_type`) keep tests short and tolerate events of any shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
)

from bot.tools.local_homeserver import RegisteredUser

__all__ = [
    "MARKER_EVENT_TYPE",
    "SYNC_FILTER",
    "MakePerson",
    "MakeUser",
    "MatrixCallError",
    "Person",
    "Predicate",
    "WaitTimeout",
    "edit_of",
    "joined",
    "of_type",
    "reaction_to",
    "redaction_of",
    "text",
]

log = logging.getLogger(__name__)

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
MakeUser = Callable[..., Awaitable[RegisteredUser]]
"""Type of the ``make_user`` fixture: ``await make_user("bot", admin=False)``."""
MakePerson = Callable[..., Awaitable["Person"]]
"""Type of the ``make_person`` fixture: ``await make_person("alice", admin=False)``."""

SYNC_FILTER: dict[str, Any] = {
    # 100 is Synapse's cap; bigger gaps are backfilled from /messages.
    "room": {
        "timeline": {"limit": 100},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
}
"""Filter used by every person's sync: all timeline event types, no ephemeral data."""

MARKER_EVENT_TYPE = "org.concerto.test.marker"
"""Custom event type of the markers sent by :meth:`Person.assert_no_event`."""

SYNC_POLL_MS = 30_000
"""Long-poll timeout of each sync request, in milliseconds."""


class MatrixCallError(RuntimeError):
    """The homeserver answered a client call with an error."""


class WaitTimeout(AssertionError):
    """No matching event arrived in time."""


# ---------------------------------------------------------------------- predicate builders


def _content(event: Event) -> Mapping[str, Any]:
    content = event.get("content")
    return content if isinstance(content, Mapping) else {}


def _relation(event: Event) -> Mapping[str, Any]:
    relation = _content(event).get("m.relates_to")
    return relation if isinstance(relation, Mapping) else {}


def of_type(event_type: str, *, sender: str | None = None) -> Predicate:
    """Events of ``event_type`` (optionally from ``sender``)."""

    def match(event: Event) -> bool:
        return event.get("type") == event_type and (sender is None or event.get("sender") == sender)

    return match


def text(
    body: str | None = None,
    *,
    sender: str | None = None,
    contains: str | None = None,
    msgtype: str | None = None,
) -> Predicate:
    """``m.room.message`` events, optionally with an exact ``body``, a substring, a sender and
    a msgtype (``m.text``, ``m.notice``...). Edits (``m.replace``) are excluded."""

    def match(event: Event) -> bool:
        if event.get("type") != "m.room.message":
            return False
        content = _content(event)
        if _relation(event).get("rel_type") == "m.replace":
            return False
        value = content.get("body")
        return (
            isinstance(value, str)
            and (body is None or value == body)
            and (contains is None or contains in value)
            and (sender is None or event.get("sender") == sender)
            and (msgtype is None or content.get("msgtype") == msgtype)
        )

    return match


def reply_to(sender: str, event_id: str, *, msgtype: str | None = None) -> Predicate:
    """Rich replies (``m.in_reply_to``) from ``sender`` to ``event_id``, optionally of one
    msgtype (the bot answers commands with ``m.notice``)."""

    def match(event: Event) -> bool:
        reply = _relation(event).get("m.in_reply_to")
        return (
            event.get("sender") == sender
            and isinstance(reply, dict)
            and reply.get("event_id") == event_id
            and (msgtype is None or _content(event).get("msgtype") == msgtype)
        )

    return match


def reaction_to(event_id: str, key: str | None = None, *, sender: str | None = None) -> Predicate:
    """``m.reaction`` annotations of ``event_id`` (optionally with ``key`` and ``sender``)."""

    def match(event: Event) -> bool:
        relation = _relation(event)
        return (
            event.get("type") == "m.reaction"
            and relation.get("rel_type") == "m.annotation"
            and relation.get("event_id") == event_id
            and (key is None or relation.get("key") == key)
            and (sender is None or event.get("sender") == sender)
        )

    return match


def edit_of(event_id: str, *, sender: str | None = None) -> Predicate:
    """``m.replace`` edits of ``event_id``."""

    def match(event: Event) -> bool:
        relation = _relation(event)
        return (
            relation.get("rel_type") == "m.replace"
            and relation.get("event_id") == event_id
            and (sender is None or event.get("sender") == sender)
        )

    return match


def redaction_of(event_id: str) -> Predicate:
    """``m.room.redaction`` events redacting ``event_id`` (either room-version layout)."""

    def match(event: Event) -> bool:
        if event.get("type") != "m.room.redaction":
            return False
        return event.get("redacts") == event_id or _content(event).get("redacts") == event_id

    return match


def _summary(event: Event) -> str:
    content = _content(event)
    detail = content.get("body") or content.get("membership") or _relation(event).get("key") or ""
    return f"{event.get('type')} from {event.get('sender')}: {str(detail)[:60]!r}"


def _check(response: Any, expected: type, action: str) -> Any:
    """nio returns error objects instead of raising: turn them into exceptions."""
    if not isinstance(response, expected):
        raise MatrixCallError(f"{action} failed: {response}")
    return response


# ---------------------------------------------------------------------- Person


class Person:
    """A logged-in Matrix user with a background sync loop that records every event it sees.

    Create one with :meth:`Person.start` (the ``make_person`` fixture does it for you) and
    :meth:`close` it at the end. All methods must be called from the event loop the person
    was started on.
    """

    def __init__(self, client: AsyncClient, user: RegisteredUser) -> None:
        self.client = client
        self.user = user
        self._events: dict[str, list[Event]] = {}
        self._event_ids: dict[str, set[str]] = {}
        self._invites: list[str] = []
        self._last_sent: dict[str, str] = {}
        self._since: str | None = None
        self._synced = asyncio.Event()
        self._changed = asyncio.Condition()
        self._failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.backfilled = 0
        """How many events were fetched from ``/messages`` to fill ``limited`` sync gaps."""

    @classmethod
    async def start(cls, homeserver_url: str, user: RegisteredUser) -> Person:
        """Log ``user`` in with its access token, start syncing and wait for the first sync."""
        config = AsyncClientConfig(
            encryption_enabled=False,
            store_sync_tokens=False,
            # Reconnect quickly after a homeserver restart, but do not hang forever.
            max_timeout_retry_wait_time=1.0,
            max_timeouts=180,
        )
        client = AsyncClient(homeserver_url, user.user_id, store_path="", config=config)
        client.restore_login(user.user_id, user.device_id, user.access_token)
        person = cls(client, user)
        person._task = asyncio.create_task(person._sync_loop(), name=f"sync {user.user_id}")
        try:
            async with asyncio.timeout(30):
                await person._synced.wait()
        except BaseException:
            await person.close()
            raise
        person._raise_if_failed()
        return person

    def __repr__(self) -> str:
        return f"<Person {self.user_id}>"

    @property
    def user_id(self) -> str:
        """The person's full Matrix user ID."""
        return self.user.user_id

    # ------------------------------------------------------------------ actions

    async def create_room(
        self,
        name: str | None = None,
        *,
        invite: Iterable[str] = (),
        power_levels: dict[str, Any] | None = None,
        room_version: str | None = None,
        topic: str | None = None,
        initial_state: Iterable[dict[str, Any]] = (),
        is_direct: bool = False,
    ) -> str:
        """Create a private room, invite people, and return its room ID.

        ``power_levels`` is merged by the server into the default power levels
        (``power_level_content_override``), for example ``{"users": {bot: 50}}``.
        """
        response = await self.client.room_create(
            name=name,
            topic=topic,
            invite=list(invite),
            power_level_override=power_levels,
            room_version=room_version,
            initial_state=list(initial_state),
            is_direct=is_direct,
        )
        room_id: str = _check(response, RoomCreateResponse, "create_room").room_id
        return room_id

    async def join(self, room_id: str) -> None:
        """Join a room (accepting an invite, or a public room)."""
        _check(await self.client.join(room_id), JoinResponse, f"join {room_id}")

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` to the room."""
        response = await self.client.room_invite(room_id, user_id)
        _check(response, RoomInviteResponse, f"invite {user_id} to {room_id}")

    async def leave(self, room_id: str) -> None:
        """Leave the room."""
        _check(await self.client.room_leave(room_id), RoomLeaveResponse, f"leave {room_id}")

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Send any room event (for example a poll response) and return its event ID.

        Remember that Synapse rejects floats anywhere in the content.
        """
        response = await self.client.room_send(room_id, event_type, content)
        event_id: str = _check(response, RoomSendResponse, f"send {event_type}").event_id
        self._last_sent[room_id] = event_id
        return event_id

    async def send_text(
        self,
        room_id: str,
        body: str,
        *,
        thread_root: str | None = None,
        reply_to: str | None = None,
        msgtype: str = "m.text",
        mentions: Iterable[str] | None = None,
    ) -> str:
        """Send a message and return its event ID.

        Args:
            thread_root: Post in the thread of this root event (``m.thread`` with the usual
                reply fallback to the root).
            reply_to: Make it a rich reply to this event (ignored when ``thread_root`` is set).
            msgtype: ``m.text``, ``m.notice``, ``m.emote``...
            mentions: User IDs for ``m.mentions``.
        """
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread_root},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        if mentions is not None:
            content["m.mentions"] = {"user_ids": list(mentions)}
        return await self.send_event(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """Annotate ``event_id`` with ``key`` (an emoji, usually) and return the reaction's ID."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content)

    async def edit(
        self, room_id: str, event_id: str, new_body: str, *, msgtype: str = "m.text"
    ) -> str:
        """Replace the text of one of this person's messages; returns the edit's event ID."""
        content = {
            "msgtype": msgtype,
            "body": f"* {new_body}",
            "m.new_content": {"msgtype": msgtype, "body": new_body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send_event(room_id, "m.room.message", content)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        """Redact an event and return the redaction's event ID."""
        response = await self.client.room_redact(room_id, event_id, reason=reason)
        redaction_id: str = _check(response, RoomRedactResponse, f"redact {event_id}").event_id
        self._last_sent[room_id] = redaction_id
        return redaction_id

    async def set_power_level(self, room_id: str, user_id: str, level: int) -> None:
        """Set ``user_id``'s power level in the room (read-modify-write of the state event)."""
        current = await self.client.room_get_state_event(room_id, "m.room.power_levels")
        content = dict(_check(current, RoomGetStateEventResponse, "read power levels").content)
        users = dict(content.get("users", {}))
        users[user_id] = level
        content["users"] = users
        response = await self.client.room_put_state(room_id, "m.room.power_levels", content)
        _check(response, RoomPutStateResponse, "set power levels")

    # ------------------------------------------------------------------ observing

    def events(self, room_id: str) -> list[Event]:
        """Every timeline event received for the room so far, oldest first (a copy)."""
        return list(self._events.get(room_id, []))

    def invites(self) -> list[str]:
        """Room IDs this person has been invited to, in the order the invites arrived."""
        return list(self._invites)

    async def wait_for(
        self,
        room_id: str,
        predicate: Predicate,
        timeout: float = 15,  # noqa: ASYNC109
        *,
        after: str | None = None,
    ) -> Event:
        """Return the first event of the room that satisfies ``predicate``.

        Events received before the call count as well as new ones. With ``after``, only events
        that arrived after the event with that ID are considered (useful for "the reply to my
        command": ``wait_for(room, text(sender=bot), after=command_id)``); that event itself
        may still be on its way.

        Raises:
            WaitTimeout: Nothing matched within ``timeout`` seconds (an ``AssertionError``,
                listing the last events seen).
            Exception: Whatever ``predicate`` raises, or the sync loop's fatal error.
        """
        position = 0
        armed = after is None
        found: list[Event] = []

        def scan() -> bool:
            nonlocal position, armed
            self._raise_if_failed()
            received = self._events.get(room_id, [])
            while position < len(received):
                event = received[position]
                position += 1
                if not armed:
                    armed = event.get("event_id") == after
                elif predicate(event):
                    found.append(event)
                    return True
            return False

        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(scan)
            except TimeoutError:
                raise WaitTimeout(self._timeout_message(room_id, timeout, after, armed)) from None
        return found[0]

    async def wait_for_invite(self, timeout: float = 15) -> str:  # noqa: ASYNC109
        """Return the ID of the oldest room this person is invited to and has not yet joined."""

        def pending() -> str | None:
            self._raise_if_failed()
            for room_id in self._invites:
                if room_id not in self._events and room_id not in self.client.rooms:
                    return room_id
            return None

        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: pending() is not None)
            except TimeoutError:
                raise WaitTimeout(f"{self.user_id} got no invite within {timeout} s") from None
        room_id = pending()
        assert room_id is not None
        return room_id

    async def assert_no_event(
        self,
        room_id: str,
        predicate: Predicate,
        within: float = 15,
        *,
        after: str | None = None,
    ) -> None:
        """Check that no event matching ``predicate`` was ordered before a fresh marker.

        The person sends a marker event (type :data:`MARKER_EVENT_TYPE`, which bots ignore) and
        waits up to ``within`` seconds for it to come back through its own sync. Then it checks
        the events between ``after`` (default: the last event this person sent in the room
        before the marker; if none, the start of the room) and the marker.

        This proves *ordering*, not time: nothing matching reached the room before the marker.
        A bot that is still busy with an earlier message could answer after the marker, so
        when the bot's reply would be asynchronous, first wait for something the bot does
        after the step in question.

        Raises:
            AssertionError: A matching event arrived (the message lists them).
            WaitTimeout: The marker did not come back within ``within`` seconds.
        """
        start = after if after is not None else self._last_sent.get(room_id)
        marker_id = await self.send_event(room_id, MARKER_EVENT_TYPE, {"marker": uuid.uuid4().hex})
        await self.wait_for(room_id, lambda e: e.get("event_id") == marker_id, within)
        received = self._events.get(room_id, [])
        ids = [event.get("event_id") for event in received]
        end = ids.index(marker_id)
        begin = 0
        if start is not None:
            if start not in ids[:end]:
                raise AssertionError(f"assert_no_event: {start} was not received in {room_id}")
            begin = ids.index(start) + 1
        offenders = [event for event in received[begin:end] if predicate(event)]
        if offenders:
            listed = "\n  ".join(_summary(event) for event in offenders)
            raise AssertionError(
                f"{self.user_id} saw {len(offenders)} unexpected event(s) in {room_id}:\n  {listed}"
            )

    # ------------------------------------------------------------------ teardown

    async def close(self) -> None:
        """Stop the sync loop and close the HTTP session. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    # ------------------------------------------------------------------ internals

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"sync loop of {self.user_id} failed") from self._failure

    def _timeout_message(self, room_id: str, timeout: float, after: str | None, armed: bool) -> str:
        received = self._events.get(room_id, [])
        lines = [f"{self.user_id}: no matching event in {room_id} within {timeout} s"]
        if after is not None and not armed:
            lines.append(f"(the 'after' event {after} never arrived)")
        lines.append(f"{len(received)} event(s) received; the last ones:")
        lines.extend(f"  {_summary(event)}" for event in received[-10:])
        return "\n".join(lines)

    async def _sync_loop(self) -> None:
        try:
            while not self._closed:
                since = self._since
                response = await self.client.sync(
                    timeout=SYNC_POLL_MS if since is not None else 0,
                    sync_filter=SYNC_FILTER,
                    since=since,
                )
                if not isinstance(response, SyncResponse):
                    if getattr(response, "status_code", None) in (
                        "M_UNKNOWN_TOKEN",
                        "M_MISSING_TOKEN",
                        "M_FORBIDDEN",
                    ):
                        raise MatrixCallError(f"sync failed: {response}")
                    log.warning("sync of %s failed, retrying: %s", self.user_id, response)
                    await asyncio.sleep(0.2)  # back off before the next request; not a wait
                    continue
                await self._ingest(response, since)
                self._since = response.next_batch
                self._synced.set()
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            log.exception("sync loop of %s died", self.user_id)
            self._failure = error
            self._synced.set()
            async with self._changed:
                self._changed.notify_all()

    async def _ingest(self, response: SyncResponse, since: str | None) -> None:
        batches: list[tuple[str, list[Event]]] = []
        for section in (response.rooms.join, response.rooms.leave):
            for room_id, info in section.items():
                timeline = info.timeline
                events = [event.source for event in timeline.events]
                if timeline.limited and since is not None and timeline.prev_batch:
                    events = await self._backfill(room_id, timeline.prev_batch, since) + events
                batches.append((room_id, events))
        async with self._changed:
            for room_id, events in batches:
                stored = self._events.setdefault(room_id, [])
                seen = self._event_ids.setdefault(room_id, set())
                for event in events:
                    event_id = event.get("event_id")
                    if event_id in seen:
                        continue
                    if event_id is not None:
                        seen.add(event_id)
                    stored.append(event)
            for room_id in response.rooms.invite:
                if room_id not in self._invites:
                    self._invites.append(room_id)
            self._changed.notify_all()

    async def _backfill(self, room_id: str, prev_batch: str, since: str) -> list[Event]:
        """Events of a sync gap: ``/messages`` backwards from ``prev_batch`` down to ``since``."""
        newest_first: list[Event] = []
        token = prev_batch
        while True:
            response = await self.client.room_messages(
                room_id, start=token, end=since, direction=MessageDirection.back, limit=100
            )
            page = _check(response, RoomMessagesResponse, f"backfill {room_id}")
            newest_first.extend(event.source for event in page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        self.backfilled += len(newest_first)
        log.debug("backfilled %d event(s) in %s for %s", len(newest_first), room_id, self.user_id)
        return newest_first[::-1]


def joined(user_id: str) -> Predicate:
    def match(event: Event) -> bool:
        return (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and (event.get("content") or {}).get("membership") == "join"
        )

    return match
