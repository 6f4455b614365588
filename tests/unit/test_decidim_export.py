"""`concerto export proposals --format decidim`: the CSV Decidim's proposal import accepts.

Read back the way Decidim reads it (decidim-admin's CSV reader: `;`-separated, a header row;
the proposals verifier requires `title/<default locale>` and `body/<default locale>`; every
other header is optional), with Python's csv module standing in for Ruby's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.tools.cli import main
from bot.tools.decidim import TITLE_LENGTH, title_of
from bot.tools.export import ExportError, export_proposals
from storage.db import Database
from storage.privacy import PrivacyRepository
from storage.proposals import RETAINED, SUPPORT, ProposalRepository, TagSpelling

ROOM = "!room:example.org"
OTHER = "!other:example.org"
START = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
TEXT = 'Des bancs "solides"; et <b>beaux</b> #proposition #ESS\n\nDeuxième paragraphe.'


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'data' / 'concerto.db'}")
    db.migrate()
    with db.session() as session:
        repo = ProposalRepository(session)
        benches = repo.add(
            room_id=ROOM,
            event_id="$one",
            author="@alice:example.org",
            text=TEXT,
            tags=[TagSpelling("ESS", "ess")],
            source="message",
            created_at=START,
        )
        for voter in ("@bob:x", "@carol:x"):
            repo.add_reaction(benches, reaction_event_id=f"$r{voter}", user_id=voter,
                              kind=SUPPORT, at=START)  # fmt: skip
        repo.add_reaction(
            benches, reaction_event_id="$k", user_id="@org:x", kind=RETAINED, at=START
        )
        repo.add(
            room_id=ROOM,
            event_id="$two",
            author="@bob:example.org",
            text="Un bus le dimanche",
            tags=[],
            source="command",
            created_at=START + timedelta(hours=1),
        )
        repo.add(
            room_id=OTHER,
            event_id="$three",
            author="@dan:example.org",
            text="Ailleurs #climat",
            tags=[TagSpelling("climat", "climat")],
            source="message",
            created_at=START,
        )
    yield db
    db.close()


def read_as_decidim(text: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    headers = rows[0]
    return headers, [dict(zip(headers, row, strict=True)) for row in rows[1:]]


def test_the_file_has_decidims_required_columns_and_keeps_authorship(database):
    headers, rows = read_as_decidim(export_proposals(database, room_id=ROOM, fmt="decidim"))
    assert headers == ["title/fr", "body/fr"]  # required: title and body in the default locale
    assert [row["title/fr"] for row in rows] == [
        'Des bancs "solides"; et <b>beaux</b> #ESS',  # most supported first, no marker
        "Un bus le dimanche",
    ]
    body = rows[0]["body/fr"]
    assert body.startswith(
        "<p>Des bancs &quot;solides&quot;; et &lt;b&gt;beaux&lt;/b&gt; #proposition #ESS</p>"
        "<p>Deuxième paragraphe.</p>"
    )
    assert "Proposé par @alice:example.org sur Matrix le 2027-05-03 :" in body
    assert '<a href="https://matrix.to/#/!room:example.org/$one">le message</a>' in body
    assert "Thèmes : #ESS · Soutiens : 2 · Statut dans Concerto : retenue" in body
    assert "\n" not in body


def test_every_room_in_another_locale_without_erased_proposals(database):
    with database.session() as session:
        PrivacyRepository(session).forget(
            "@bob:example.org",
            now=START,
            erased_text=lambda room: "(supprimé)",
            anonymous=lambda room: "anonyme",
        )
    headers, rows = read_as_decidim(export_proposals(database, fmt="decidim", locale="en"))
    assert headers == ["title/en", "body/en"]
    assert sorted(row["title/en"] for row in rows) == [
        "Ailleurs #climat",
        'Des bancs "solides"; et <b>beaux</b> #ESS',
    ]
    assert all("Un bus" not in row["body/en"] for row in rows)
    assert "Proposed by @dan:example.org on Matrix on 2027-05-03:" in rows[-1]["body/en"]


def test_long_texts_get_a_short_title_and_bad_locales_are_refused(database):
    title = title_of("#proposition " + "mot " * 100)
    assert len(title) == TITLE_LENGTH and title.endswith("…") and "#" not in title
    assert title_of("Titre\nsuite du texte") == "Titre"
    with pytest.raises(ExportError, match="not a locale"):
        export_proposals(database, fmt="decidim", locale="fr;x")


def test_the_cli_writes_it_in_the_configured_language(database, tmp_path: Path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(
        '[matrix]\nhomeserver = "https://matrix.example.org"\n'
        'user_id = "@concerto:example.org"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n',
        encoding="utf-8",
    )
    output = tmp_path / "decidim.csv"
    arguments = ["export", "proposals", "--config", str(config), "--format", "decidim"]
    assert main([*arguments, "--room", OTHER, "--output", str(output)]) == 0
    data = output.read_bytes()
    assert data.startswith(b"title/fr;body/fr\r\n")  # no byte order mark before the header
    assert main([*arguments, "--locale", "pt-BR"]) == 0
    assert capsys.readouterr().out.startswith("title/pt-BR;body/pt-BR\r\n")
    assert main([*arguments, "--locale", "x y"]) == 1
    assert "not a locale" in capsys.readouterr().err


def test_decisions_are_not_exported_for_decidim(database):
    from bot.tools.export_decisions import export_decisions

    with pytest.raises(ExportError, match="for decisions: choose csv, json, md"):
        export_decisions(database, fmt="decidim")
