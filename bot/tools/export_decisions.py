"""`concerto export decisions`: every closed poll and decision with its result, for organisers.

One record per poll closed (cancelled ones left out): its kind, question, when it closed, how
many took part out of the room's members, the outcome of a decision, the winners and the count
per answer. Results only: who voted what is never exported.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from bot.tools.export import ExportError, _markdown_text, _spreadsheet_safe, to_json
from storage.db import Database
from storage.poll_models import Poll
from storage.polls import PollRepository

FIELDS = (
    "id",
    "room",
    "kind",
    "question",
    "closed_at",
    "voters",
    "members",
    "outcome",
    "objections",
    "winners",
    "results",
)

DECISION_FORMATS = ("csv", "json", "md")


def decision_record(poll: Poll) -> dict[str, Any]:
    result = poll.result or {}
    counts = result.get("counts") or {}
    texts = dict(poll.answers)
    return {
        "id": poll.short_id,
        "room": poll.room_id,
        "kind": poll.kind,
        "question": poll.question,
        "closed_at": poll.closed_at.isoformat() if poll.closed_at else None,
        "voters": int(result.get("voters") or 0),
        "members": result.get("members"),
        "outcome": result.get("outcome"),
        "objections": result.get("objections"),
        "winners": [texts.get(answer_id, answer_id) for answer_id in result.get("winners") or []],
        "results": {texts.get(a, a): int(n) for a, n in counts.items()},
    }


def _csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for record in records:
        row = dict(
            record,
            question=_spreadsheet_safe(record["question"]),
            winners=_spreadsheet_safe(" | ".join(record["winners"])),
            results=_spreadsheet_safe(
                " | ".join(f"{text}: {count}" for text, count in record["results"].items())
            ),
        )
        writer.writerow(["" if row[name] is None else row[name] for name in FIELDS])
    return buffer.getvalue()


def _markdown(records: list[dict[str, Any]]) -> str:
    lines = ["# Decisions and polls", ""]
    for record in records:
        members = f" of {record['members']} members" if record["members"] else ""
        outcome = f" — {record['outcome']}" if record["outcome"] else ""
        winners = ", ".join(_markdown_text(w) for w in record["winners"])
        lines.append(
            f"- **{record['id']}** ({record['kind']}) {_markdown_text(record['question'])}"
            f" — closed {record['closed_at']} — {record['voters']} voters{members}{outcome}"
            + (f" — winner: {winners}" if winners else "")
        )
    if not records:
        lines.append("No closed polls.")
    return "\n".join(lines) + "\n"


def export_decisions(database: Database, *, room_id: str | None = None, fmt: str = "csv") -> str:
    """Closed polls and decisions (of ``room_id``, or all rooms), oldest close first."""
    if fmt not in DECISION_FORMATS:  # Decidim imports proposals, not decisions
        raise ExportError(
            f"unknown format {fmt!r} for decisions: choose {', '.join(DECISION_FORMATS)}"
        )
    if not inspect(database.engine).has_table("poll"):
        raise ExportError("no poll table: start the bot once so it migrates the database")
    with database.session() as session:
        polls = [
            poll
            for poll in PollRepository(session).list_closed(room_id=room_id)
            if poll.status == "closed"
        ]
        records = [decision_record(poll) for poll in polls]
    if fmt == "json":
        return to_json(records)
    if fmt == "md":
        return _markdown(records)
    return _csv(records)


def run_export_decisions(
    database_url: str, *, room_id: str | None, fmt: str, output: str | None
) -> int:
    """What `concerto export decisions` does: write the export to a file or stdout; exit code."""
    database = Database.from_url(database_url)
    try:
        text = export_decisions(database, room_id=room_id, fmt=fmt)
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
