"""`concerto export proposals`: the proposals of one room or all rooms, for organisers.

Formats: CSV (spreadsheets; cells that a spreadsheet would run as a formula are prefixed
with an apostrophe), JSON (tools), Markdown (publishing; user text escaped), and the CSV file
Decidim's proposal import accepts (``bot.tools.decidim``). Author IDs are Matrix user IDs:
display names live on the homeserver, not in the database.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from bot.tools.decidim import LOCALE, to_decidim_csv
from storage.db import Database
from storage.proposals import ProposalRepository, ProposalView

FORMATS = ("csv", "json", "md", "decidim")
FIELDS = ("id", "room", "author", "created_at", "text", "tags", "supports", "status", "link")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


class ExportError(Exception):
    """The export cannot be made; the message says why."""


def proposal_record(view: ProposalView) -> dict[str, Any]:
    """One proposal as exported (tags as written, without repeats)."""
    from handlers.shared.text import message_link

    tags: list[str] = []
    for tag in view.tags:
        if "#" + tag.display not in tags:
            tags.append("#" + tag.display)
    return {
        "id": view.short_id,
        "room": view.room_id,
        "author": view.author,
        "created_at": view.created_at.isoformat(),
        "text": view.text,
        "tags": tags,
        "supports": view.supports,
        "status": view.status,
        "link": message_link(view.room_id, view.event_id),
    }


def _spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for record in records:
        row = dict(record, tags=" ".join(record["tags"]))
        row["text"] = _spreadsheet_safe(row["text"])
        writer.writerow([row[name] for name in FIELDS])
    return buffer.getvalue()


def to_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, indent=2) + "\n"


def _markdown_text(text: str) -> str:
    """One line of Markdown that shows the text as written, never as markup or HTML."""
    flat = " ".join(text.split())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
    return escaped.replace("&", "&amp;")


def to_markdown(records: list[dict[str, Any]]) -> str:
    lines = ["# Proposals", ""]
    room = None
    for record in records:
        if record["room"] != room:
            room = record["room"]
            lines += [f"## {_markdown_text(room)}", ""]
        tags = " ".join(_markdown_text(tag) for tag in record["tags"])
        lines.append(
            f"- **{record['id']}** {_markdown_text(record['text'])}"
            f" — {_markdown_text(record['author'])}, {record['created_at']}"
            + (f" — {tags}" if tags else "")
            + f" — 👍 {record['supports']} — {record['status']}"
            + f" — [message](<{record['link']}>)"
        )
    if not records:
        lines.append("No proposals.")
    return "\n".join(lines) + "\n"


def export_proposals(
    database: Database, *, room_id: str | None = None, fmt: str = "csv", locale: str = "fr"
) -> str:
    """The proposals (of ``room_id``, or all rooms grouped by room), newest first, as text;
    for Decidim, in ``locale`` (the Decidim organisation's default locale), the most supported
    first and without those erased at their author's request."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    if fmt == "decidim" and not LOCALE.match(locale):
        raise ExportError(f"not a locale: {locale!r} (e.g. fr, en, ca, pt-BR)")
    if not inspect(database.engine).has_table("proposal"):
        raise ExportError("no proposals table: start the bot once so it migrates the database")
    with database.session() as session:
        repository = ProposalRepository(session)
        if fmt == "decidim":
            return to_decidim_csv(repository.list_published(room_id), locale)
        views = repository.list(room_id)
    views.sort(key=lambda view: view.room_id)  # stable: newest first within each room
    records = [proposal_record(view) for view in views]
    if fmt == "json":
        return to_json(records)
    if fmt == "md":
        return to_markdown(records)
    return to_csv(records)


def run_export(
    database_url: str,
    *,
    what: str,
    room_id: str | None,
    fmt: str,
    output: str | None,
    locale: str = "fr",
) -> int:
    """What `concerto export` does: write the export to a file or stdout; exit code."""
    if what != "proposals":
        print(f"cannot export {what!r}: only 'proposals'", file=sys.stderr)
        return 1
    database = Database.from_url(database_url)
    try:
        text = export_proposals(database, room_id=room_id, fmt=fmt, locale=locale)
    except ExportError as error:
        print(f"export failed: {error}", file=sys.stderr)
        return 1
    finally:
        database.close()
    if output:
        Path(output).write_text(text, encoding="utf-8", newline="")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
