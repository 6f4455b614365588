"""The proposals page and the digest archive as served, in headless Chromium at phone width:
title and sections, nothing wider than the screen, no script run (user text shown, never run),
and every link on them answering.

The pages forbid framing (CSP frame-ancestors, X-Frame-Options), so each page is fetched from
the web service, then measured from a file in the 390 px frame of test_digest_page_browser's
measuring page; its links are followed against the service itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape as html_unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from harness import Harness
from test_digest_page_browser import CHROMIUM, MEASURE, run
from web_client import PUBLIC, web_client, with_web

from bot.runtime.clock import FrozenClock
from bot.runtime.config import Config

ORGANISER = "@org:test"
ALICE = "@alice:test"
BOB = "@bob:test"
LONG = "Anticonstitutionnellementdéveloppementéconomiquerégional" * 3


@pytest.fixture
def browser() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium is not installed")
    return CHROMIUM


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 6, 19, 8, 0, tzinfo=UTC))


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 100}


@pytest.fixture
def config(config: Config) -> Config:
    return with_web(config)


@pytest.fixture
async def client(bot: Harness) -> AsyncIterator[TestClient]:
    async with web_client(bot) as c:
        yield c


async def seed(bot: Harness) -> None:
    await bot.say(ALICE, "!résumé")
    for i in range(1, 13):
        text = f"{LONG} <script>alert({i})</script> #{LONG[:40]}" if i == 1 else f"Idée {i}"
        tags = "#numérique" if i % 2 else "#ESS #tiers-lieux"
        event = bot.message(ALICE if i % 3 else BOB, f"!proposition {text} {tags}")
        await bot.deliver(event)
        if i % 4 == 0:
            await bot.deliver(bot.reaction(BOB, event["event_id"], "👍"))
    bot.clock.set(datetime(2026, 6, 22, 10, 0, tzinfo=UTC))
    await bot.timers.fire_due()
    await bot.outbox.send_due()


async def link(bot: Harness, command: str) -> str:
    [answer] = await bot.say(BOB, command)
    found = re.search(re.escape(PUBLIC) + r"(/[a-z]+/[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])", answer)
    assert found, answer
    return found.group(1)


async def measure(chromium: str, tmp_path: Path, html: str) -> tuple[str, int, int, int]:
    """The page's DOM as Chromium built it, its scroll width, the frame's width, its scripts."""
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    measured = tmp_path / "measured.html"
    measured.write_text(MEASURE, encoding="utf-8")
    outer, probe = "", None
    for _attempt in range(3):  # a loaded machine may dump the DOM before the frame loaded
        try:
            outer = await asyncio.to_thread(
                run,
                chromium,
                tmp_path,
                "--allow-file-access-from-files",
                "--virtual-time-budget=5000",
                "--dump-dom",
                target=measured,
            )
        except subprocess.SubprocessError:  # or Chromium itself gave up (timeout, crash)
            continue
        probe = re.search(r'<p id="probe">(\d+) (\d+) (\d+)</p>', outer)
        if probe is not None:
            break
    assert probe is not None, "the measuring page did not run"
    tail = outer[probe.end() :]
    dom = html_unescape(re.search(r'<div id="dom">(.*)</div>', tail, re.S).group(1))
    return dom, int(probe.group(1)), int(probe.group(2)), int(probe.group(3))


async def links_answer(client: TestClient, page_path: str, html: str) -> int:
    """Follow every link of the page that leads to the service; the others go to Matrix."""
    followed = 0
    for href in re.findall(r'href="([^"]*)"', html):
        target = urljoin(PUBLIC + page_path, html_unescape(href))
        if target.startswith(PUBLIC):
            parts = urlsplit(target)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            assert (await client.get(path)).status == 200, target
            followed += 1
        else:
            assert target.startswith("https://matrix.to/#/!room:test/$"), target
    return followed


@pytest.mark.parametrize(
    ("language", "title", "headings"),
    [("fr", "Propositions", ["Thèmes", "Toutes les propositions"]),
     ("en", "Proposals", ["Themes", "Every proposal"])],
)  # fmt: skip
async def test_proposals_page_reads_well_on_a_phone(
    bot, client, browser, tmp_path, language, title, headings
):
    await seed(bot)
    path = await link(bot, "!propositions lien")
    html = await (await client.get(path)).text()
    assert "<script" not in html.replace("&lt;script", "")
    dom, scroll_width, viewport, scripts = await measure(browser, tmp_path, html)
    assert f"<title>{title}</title>" in dom and f"<h1>{title}</h1>" in dom
    for heading in headings:
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count("<article") == 12
    assert "alert(1)" in dom and scripts == 0
    assert viewport == 390 and scroll_width <= viewport, "the page scrolls sideways on a phone"
    assert await links_answer(client, path, html) == 4  # "all" and the three themes


@pytest.mark.parametrize("language", ["fr"])
async def test_digest_archive_reads_well_on_a_phone(bot, client, browser, tmp_path, language):
    await seed(bot)
    path = await link(bot, "!résumé lien")
    index = await (await client.get(path)).text()
    dom, scroll_width, viewport, scripts = await measure(browser, tmp_path, index)
    assert "<h1>Résumés</h1>" in dom and scripts == 0 and scroll_width <= viewport == 390
    assert await links_answer(client, path, index) == 1
    week = await (await client.get(f"{path}/2026-W25")).text()
    dom, scroll_width, viewport, scripts = await measure(browser, tmp_path, week)
    assert "<h1>Résumé de la semaine 2026-W25</h1>" in dom and "<svg" in dom
    assert "alert(1)" in dom and scripts == 0
    assert viewport == 390 and scroll_width <= viewport
    assert await links_answer(client, f"{path}/2026-W25", week) >= 1  # its table of contents
