"""The web service over a unit test's bot (the harness), for aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from aiohttp.test_utils import TestClient, TestServer
from harness import Harness

from bot.runtime.config import Config, WebConfig
from bot.runtime.health import Health, SyncState
from bot.runtime.web import WebService

PUBLIC = "https://concerto.example.org"


def with_web(config: Config) -> Config:
    """The shipped configuration with the web service on, as a deployment turns it on."""
    return replace(config, web=WebConfig(listen="127.0.0.1:8080", public_url=PUBLIC))


@asynccontextmanager
async def web_client(bot: Harness) -> AsyncIterator[TestClient]:
    web = WebService(
        bot.config.web,
        database=bot.database,
        clock=bot.clock,
        gateway=bot.sender,
        pages=bot.services.links.pages,
        health=Health(bot.database, bot.clock, lambda: SyncState(None, 0)),
    )
    async with TestClient(TestServer(web.application())) as client:
        yield client
