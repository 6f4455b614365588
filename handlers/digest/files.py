"""The week's files: Markdown and a standalone HTML page (with small inline SVG charts, no
JavaScript) gathering every room's digest of a week, ready to publish on a website.

Files are rewritten whole each time a room's digest of the week is posted, and when the shared
digest of the week goes out (write to a temporary file, then rename), so they always show every
digest of the week posted so far and name the rooms whose digest is still to come.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from bot.runtime.clock import to_millis
from bot.runtime.messages import MessageRenderer
from handlers.digest.model import PendingRoom, RoomDigest, previous_week, week_bounds
from storage.digests import DigestRepository

CHART_WEEKS = 8
SERIES = ("proposals", "votes", "rsvps")
COLOURS = {"proposals": "#2b6cb0", "votes": "#c05621", "rsvps": "#2f855a"}


# --- activity over the last weeks -------------------------------------------------------------


def activity(
    repository: DigestRepository,
    digests: Sequence[RoomDigest],
    week: str,
    timezone: str,
    names: Mapping[str, str],
) -> dict[str, Any]:
    """Per room, proposals, poll votes and RSVPs in each of the last ISO weeks (charts)."""
    tz = ZoneInfo(timezone)
    weeks = [week]
    for _ in range(CHART_WEEKS - 1):
        weeks.insert(0, previous_week(weeks[0]))
    bounds = [week_bounds(label, tz) for label in weeks]
    start = bounds[0][0]
    room_ids = [digest.room_id for digest in digests]
    counts = {room: {s: [0] * len(weeks) for s in SERIES} for room in room_ids}

    def add(room: str, series: str, moment: datetime) -> None:
        for index, (low, high) in enumerate(bounds):
            if low <= moment < high:
                counts[room][series][index] += 1
                return

    for room, moment in repository.proposal_times(room_ids, start):
        add(room, "proposals", moment)
    for room, ts in repository.vote_times(room_ids, to_millis(start)):
        add(room, "votes", datetime.fromtimestamp(ts / 1000, tz=UTC))
    for room, moment in repository.rsvp_times(room_ids, start):
        add(room, "rsvps", moment)
    themes: dict[str, int] = {}
    for digest in digests:
        for tag, count in digest.tag_counts.items():
            themes[tag] = themes.get(tag, 0) + count
    return {
        "weeks": weeks,
        "rooms": [{"name": names.get(room, room), "counts": counts[room]} for room in room_ids],
        "themes": sorted(themes.items(), key=lambda item: (-item[1], item[0].casefold())),
    }


# --- charts -----------------------------------------------------------------------------------


def themes_chart(themes: Sequence[tuple[str, int]], title: str, limit: int = 12) -> Markup:
    """Horizontal bars: new proposals per theme (tags are user text: escaped)."""
    shown = list(themes[:limit])
    if not shown:
        return Markup("")
    top = max(count for _, count in shown) or 1
    row, width, label_width = 22, 360, 130
    height = row * len(shown) + 8
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for index, (tag, count) in enumerate(shown):
        y = 4 + index * row
        bar = max(2, round((width - label_width - 40) * count / top))
        label = tag if len(tag) <= 18 else tag[:17] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"#{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{bar}" height="15" '
            f'fill="{COLOURS["proposals"]}"/>'
            f'<text x="{label_width + bar + 4}" y="{y + 15}" font-size="12">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def participation_chart(
    room: Mapping[str, Any], weeks: Sequence[str], title: str, legend: Mapping[str, str]
) -> Markup:
    """Grouped bars per week: proposals, votes, RSVPs of one group over the last weeks."""
    counts: Mapping[str, list[int]] = room["counts"]
    top = max([1, *(value for series in counts.values() for value in series)])
    width, height, base, left = 360, 150, 118, 24
    slot = (width - left) / len(weeks)
    bar = slot / 4
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="#999"/>',
        f'<text x="0" y="12" font-size="10">{top}</text>',
    ]
    for index, label in enumerate(weeks):
        x0 = left + index * slot
        for offset, series in enumerate(SERIES):
            value = counts[series][index]
            h = round(100 * value / top)
            parts.append(
                f'<rect x="{x0 + (offset + 0.5) * bar:.1f}" y="{base - h}" width="{bar:.1f}" '
                f'height="{h}" fill="{COLOURS[series]}"><title>{escape(legend[series])} '
                f"{escape(label)}: {value}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + slot / 2:.1f}" y="{base + 13}" font-size="9" '
            f'text-anchor="middle">{escape(label.split("-")[1])}</text>'
        )
    x = 0.0
    for series in SERIES:  # each item after the previous one's label, so none is cut off
        parts.append(
            f'<rect x="{x}" y="{height - 12}" width="10" height="10" fill="{COLOURS[series]}"/>'
            f'<text x="{x + 14}" y="{height - 3}" font-size="11">{escape(legend[series])}</text>'
        )
        x += 14 + 6.2 * len(legend[series]) + 12  # about 6.2 px per character at 11 px
    parts.append("</svg>")
    return Markup("".join(parts))


# --- files ------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def render_week(
    week: str,
    digests: Sequence[RoomDigest],
    activity_data: Mapping[str, Any],
    *,
    renderer: MessageRenderer,
    language: str,
    missing: Sequence[PendingRoom] = (),
) -> tuple[str, str]:
    """The week's Markdown text and standalone HTML page."""
    environment = renderer.environment(language)
    translator = renderer.translations.for_language(language)
    legend = {
        "proposals": translator.gettext("proposals"),
        "votes": translator.gettext("votes"),
        "rsvps": translator.gettext("RSVPs"),
    }
    themes = themes_chart(activity_data["themes"], translator.gettext("New proposals per theme"))
    groups = [
        {
            "name": room["name"],
            "chart": participation_chart(
                room,
                activity_data["weeks"],
                translator.gettext("Participation over the last weeks"),
                legend,
            ),
        }
        for room in activity_data["rooms"]
    ]
    context = {
        "week": week,
        "digests": list(digests),
        "themes": activity_data["themes"],
        "themes_chart": themes,
        "groups": groups,
        "weeks": activity_data["weeks"],
        "language": language,
        "missing": list(missing),
    }
    markdown = environment.get_template("digest_file.md.j2").render(**context).strip() + "\n"
    page = environment.get_template("digest_page.html.j2").render(**context).strip() + "\n"
    return markdown, page


def write_week(
    folder: Path,
    week: str,
    digests: Sequence[RoomDigest],
    activity_data: Mapping[str, Any],
    *,
    renderer: MessageRenderer,
    language: str,
    missing: Sequence[PendingRoom] = (),
) -> tuple[Path, Path]:
    """Write ``<week>.md`` and ``<week>.html`` (replacing earlier versions of the week)."""
    folder.mkdir(parents=True, exist_ok=True)
    markdown, page = render_week(
        week, digests, activity_data, renderer=renderer, language=language, missing=missing
    )
    md_path, html_path = folder / f"{week}.md", folder / f"{week}.html"
    _write(md_path, markdown)
    _write(html_path, page)
    return md_path, html_path
