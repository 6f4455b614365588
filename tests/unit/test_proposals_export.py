"""`concerto export proposals`: CSV (with escaping), JSON and Markdown, per room or all rooms."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.tools.cli import main
from bot.tools.export import ExportError, export_proposals
from storage.db import Database
from storage.proposals import SUPPORT, ProposalRepository, TagSpelling

ROOM = "!room:example.org"
OTHER = "!other:example.org"
START = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
TRICKY = 'Bancs, "solides"\net <b>beaux</b> #ESS'


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'data' / 'concerto.db'}")
    db.migrate()
    with db.session() as session:
        repo = ProposalRepository(session)
        first = repo.add(
            room_id=ROOM,
            event_id="$one",
            author="@alice:example.org",
            text=TRICKY,
            tags=[TagSpelling("ESS", "ess")],
            source="message",
            created_at=START,
        )
        repo.add_reaction(first, reaction_event_id="$r", user_id="@bob:x", kind=SUPPORT, at=START)
        repo.add(
            room_id=ROOM,
            event_id="$two",
            author="@bob:example.org",
            text='=HYPERLINK("http://evil") #climat',
            tags=[TagSpelling("climat", "climat")],
            source="command",
            created_at=START + timedelta(hours=1),
        )
        repo.add(
            room_id=OTHER,
            event_id="$three",
            author="@carol:example.org",
            text="Ailleurs",
            tags=[],
            source="message",
            created_at=START,
        )
    yield db
    db.close()


def test_proposals_export_csv_escapes_and_guards_formulas(database: Database) -> None:
    text = export_proposals(database, room_id=ROOM, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["id"] for row in rows] == ["P2", "P1"]  # newest first
    tricky = rows[1]
    assert tricky["text"] == TRICKY  # commas, quotes and the newline survive a round trip
    assert tricky["tags"] == "#ESS" and tricky["supports"] == "1" and tricky["status"] == "open"
    assert tricky["author"] == "@alice:example.org"
    assert tricky["created_at"] == "2027-05-03T09:00:00+00:00"
    assert tricky["link"] == "https://matrix.to/#/!room:example.org/$one"
    assert rows[0]["text"].startswith("'=HYPERLINK")  # not run as a formula
    assert list(rows[0]) == [
        "id", "room", "author", "created_at", "text", "tags", "supports", "status", "link",
    ]  # fmt: skip


def test_proposals_export_json_all_rooms(database: Database) -> None:
    records = json.loads(export_proposals(database, fmt="json"))
    assert {r["room"] for r in records} == {ROOM, OTHER}
    first = next(r for r in records if r["id"] == "P1")
    assert first["tags"] == ["#ESS"] and first["supports"] == 1
    assert first["text"] == TRICKY


def test_proposals_export_markdown_escapes_user_text(database: Database) -> None:
    text = export_proposals(database, room_id=ROOM, fmt="md")
    assert text.startswith("# Proposals")
    assert "<b>" not in text and "\\<b\\>beaux\\</b\\>" in text
    assert "[message](<https://matrix.to/#/!room:example.org/$one>)" in text
    assert len([line for line in text.splitlines() if line.startswith("- ")]) == 2


def test_proposals_export_refuses_unknown_format_and_empty_database(tmp_path: Path) -> None:
    empty = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ExportError):
        export_proposals(empty, fmt="csv")
    with pytest.raises(ExportError):
        export_proposals(empty, fmt="xlsx")
    empty.close()


def test_proposals_export_cli_writes_file(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[matrix]\nhomeserver = "https://matrix.example.org"\n'
        'user_id = "@concerto:example.org"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n',
        encoding="utf-8",
    )
    output = tmp_path / "out.json"
    code = main(
        ["export", "proposals", "--config", str(config), "--room", OTHER, "--format", "json",
         "--output", str(output)]
    )  # fmt: skip
    assert code == 0
    records = json.loads(output.read_text(encoding="utf-8"))
    assert [r["text"] for r in records] == ["Ailleurs"]
