"""The smallest useful matrix-nio bot, the yardstick for Concerto's benchmarks.

It answers ``!ping`` with an ``m.notice`` rich reply ("pong"), sent from
``asyncio.create_task`` so the sync loop never waits for a send. It joins every invite. Like
Concerto, it fills ``limited`` sync gaps from ``/messages`` (without that a naive bot loses
messages in bursts), and it skips the history it finds at start-up. It stores nothing.

Run: ``python benchmarks/echo_bot.py <homeserver URL>`` with ``ECHO_BOT_USER_ID``,
``ECHO_BOT_DEVICE_ID`` and ``ECHO_BOT_ACCESS_TOKEN`` in the environment. Stop it with SIGTERM.
``ECHO_BOT_REPLY`` (JSON, optional) replaces the "pong" content: the burst benchmark uses it to
send exactly what Concerto sends, which separates the bot's own cost from the homeserver's cost
of a larger message.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from nio import AsyncClient, AsyncClientConfig, MessageDirection, RoomMessagesResponse, SyncResponse

SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


class EchoBot:
    def __init__(self, client: AsyncClient, reply: dict[str, Any]) -> None:
        self.client = client
        self.reply_content = reply
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reply(self, room_id: str, event: dict[str, Any]) -> None:
        content = {
            **self.reply_content,
            "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
        }
        await self.client.room_send(room_id, "m.room.message", content)

    async def gap(self, room_id: str, start: str, end: str) -> list[dict[str, Any]]:
        newest_first: list[dict[str, Any]] = []
        token = start
        while True:
            page = await self.client.room_messages(
                room_id, start=token, end=end, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse):
                break
            newest_first.extend(event.source for event in page.chunk)
            if not page.chunk or not page.end or page.end == token:
                break
            token = page.end
        return newest_first[::-1]

    async def run(self) -> None:
        since: str | None = None
        while True:
            response = await self.client.sync(
                timeout=0 if since is None else 30_000, since=since, sync_filter=SYNC_FILTER
            )
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.5)
                continue
            for room_id in response.rooms.invite:
                self.spawn(self.client.join(room_id))
            if since is not None:  # the first sync is history: skip it
                for room_id, info in response.rooms.join.items():
                    events = [event.source for event in info.timeline.events]
                    if info.timeline.limited and info.timeline.prev_batch:
                        events = await self.gap(room_id, info.timeline.prev_batch, since) + events
                    for event in events:
                        body = (event.get("content") or {}).get("body")
                        if (
                            event.get("type") == "m.room.message"
                            and event.get("sender") != self.client.user_id
                            and isinstance(body, str)
                            and body.startswith("!ping")
                        ):
                            self.spawn(self.reply(room_id, event))
            since = response.next_batch


async def main(homeserver: str) -> None:
    user_id = os.environ["ECHO_BOT_USER_ID"]
    client = AsyncClient(
        homeserver, user_id, config=AsyncClientConfig(store_sync_tokens=False), store_path=""
    )
    client.restore_login(
        user_id, os.environ["ECHO_BOT_DEVICE_ID"], os.environ["ECHO_BOT_ACCESS_TOKEN"]
    )
    reply = json.loads(os.environ.get("ECHO_BOT_REPLY") or "{}") or {
        "msgtype": "m.notice",
        "body": "pong",
    }
    bot = EchoBot(client, reply)
    runner = asyncio.create_task(bot.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
