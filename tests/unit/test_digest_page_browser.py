"""The standalone digest page in a real browser (headless Chromium) at phone width.

The published page has no JavaScript. To measure what a reader would see, the test loads the
page in a 390 px wide frame of a small measuring page (headless Chromium will not make its own
window narrower than 500 px for ``--dump-dom``); the measuring page's one script writes the
frame's viewport width and the page's ``scrollWidth`` into the DOM, read back with
``--dump-dom``. A screenshot at 390 px is also taken and its PNG header checked.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from html import unescape as html_unescape
from pathlib import Path

import pytest

from bot.runtime.messages import MessageRenderer
from bot.text.i18n import Translations
from handlers.digest.files import render_week
from handlers.digest.model import (
    AgendaLine,
    NewProposal,
    ProposalLine,
    RoomDigest,
    group_by_tag,
    tag_counts,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=390,2000",
]
MEASURE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="page.html" style="width:390px;height:2000px;border:0"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {
  var w = this.contentWindow, d = this.contentDocument;
  document.body.insertAdjacentHTML("beforeend", '<p id="probe">' +
    d.documentElement.scrollWidth + " " + w.innerWidth + " " + d.scripts.length + "</p>");
  document.body.insertAdjacentHTML("beforeend", '<div id="dom">' +
    d.documentElement.outerHTML.replace(/</g, "&lt;") + "</div>");
});
</script></body></html>"""


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def page(language: str) -> str:
    long_word = "Anticonstitutionnellementdéveloppementéconomiquerégional" * 3
    lines = [
        NewProposal(
            ProposalLine(
                f"P{i}",
                f"{long_word} <script>alert({i})</script>" if i == 1 else f"Proposition {i}",
                "Alice",
                i % 4,
                f"https://matrix.to/#/!room:example.org/$event{i}{'x' * 80}",
            ),
            ("numerique",) if i % 2 else ("ess", "tierslieux"),
            datetime(2027, 3, 10, 12, i, tzinfo=UTC),
        )
        for i in range(1, 12)
    ]
    groups = group_by_tag(lines, {"numerique": "numérique", "ess": "ESS"})
    digest = RoomDigest(
        "!room:example.org",
        "Groupe numérique",
        "2027-W10",
        datetime(2027, 3, 8, 8, tzinfo=UTC),
        datetime(2027, 3, 15, 8, tzinfo=UTC),
        period="lundi 8 mars 2027 à 09:00 (Europe/Paris)|lundi 15 mars 2027 à 09:00 (Europe/Paris)",
        new_proposals=len(lines),
        groups=groups,
        tag_counts=tag_counts(groups),
        events=[AgendaLine("E1", "Journée numérique", "mardi 11 mai 2027 à 09:30", 3, 1, 0)],
    )
    activity = {
        "weeks": [f"2027-W{w:02d}" for w in range(3, 11)],
        "rooms": [{"name": "Groupe numérique", "counts": {
            "proposals": [1, 0, 3, 5, 2, 0, 4, 11], "votes": [0, 2, 2, 1, 0, 0, 6, 9],
            "rsvps": [0, 0, 1, 0, 3, 0, 0, 4]}}],
        "themes": sorted(digest.tag_counts.items(), key=lambda item: -item[1]),
    }  # fmt: skip
    renderer = MessageRenderer(Translations())
    _markdown, html = render_week(
        "2027-W10", [digest], activity, renderer=renderer, language=language
    )
    return html


def run(chromium: str, tmp_path: Path, *extra: str, target: Path) -> str:
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, target.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )
    return result.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("language", "title", "headings"),
    [
        ("fr", "Résumé de la semaine 2027-W10", ["Sommaire", "Nouvelles propositions par thème"]),
        ("en", "Digest of week 2027-W10", ["Contents", "New proposals per theme"]),
    ],
)
def test_digest_page_reads_well_on_a_phone(chromium, tmp_path, language, title, headings):
    html = page(language)
    assert "<script" not in html  # the page itself runs no script
    published = tmp_path / "page.html"
    published.write_text(html, encoding="utf-8")
    measured = tmp_path / "measured.html"
    measured.write_text(MEASURE, encoding="utf-8")

    outer = run(
        chromium,
        tmp_path,
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
        "--dump-dom",
        target=measured,
    )
    probe = re.search(r'<p id="probe">(\d+) (\d+) (\d+)</p>', outer)
    assert probe is not None, "the measuring page did not run"
    tail = outer[probe.end() :]  # the script's own source also names the div: skip it
    dom = html_unescape(re.search(r'<div id="dom">(.*)</div>', tail, re.S).group(1))
    assert f"<title>{title}</title>" in dom
    assert f"<h1>{title}</h1>" in dom
    for heading in headings:
        assert f"<h2>{heading}</h2>" in dom
    assert "alert(1)" in dom and probe.group(3) == "0"  # user text shown, never run
    scroll_width, viewport = int(probe.group(1)), int(probe.group(2))
    assert viewport == 390
    assert scroll_width <= viewport, "the page scrolls sideways on a phone"

    screenshot = tmp_path / "page.png"
    run(chromium, tmp_path, f"--screenshot={screenshot}", target=published)
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", header[16:24])
    assert width == 390
