"""`concerto export decisions`: closed polls and decisions with their results (never who voted
what), as CSV, JSON and Markdown, from the database the bot keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from harness import ROOM, Harness

from bot.runtime.clock import FrozenClock
from bot.tools.export import ExportError
from bot.tools.export_decisions import export_decisions
from storage.polls import PollRepository

START = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
AUTHOR = "@alice:test"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


async def closed_decision_and_poll(bot: Harness) -> None:
    bot.sender.members[ROOM] = [AUTHOR, "@bob:test", "@carol:test", "@dan:test"]
    await bot.say(AUTHOR, "!décision =On adopte la charte")
    await bot.say(AUTHOR, "!sondage Quel jour ? ; mardi ; jeudi")
    await bot.say(AUTHOR, "!sondage Annulé ? ; a ; b")
    with bot.database.session() as session:
        notice = PollRepository(session).get(1).notice_event_id  # type: ignore[union-attr]
        start = PollRepository(session).get(2).start_event_id  # type: ignore[union-attr]
    await bot.deliver(bot.reaction("@bob:test", str(notice), "✋"))
    await bot.deliver(bot.reaction("@carol:test", str(start), "2\ufe0f\u20e3"))
    await bot.say(AUTHOR, "!clore S1")
    await bot.say(AUTHOR, "!clore S2")
    await bot.say(AUTHOR, "!annuler S3")


async def test_decisions_export_json_has_results_and_no_voters(bot: Harness):
    await closed_decision_and_poll(bot)
    text = export_decisions(bot.database, fmt="json")
    records = json.loads(text)
    assert [(r["id"], r["kind"], r["outcome"]) for r in records] == [
        ("S1", "consent", "blocked"),
        ("S2", "choice", None),
    ]
    assert records[0]["objections"] == 1 and records[0]["members"] == 4
    assert records[1]["winners"] == ["jeudi"]
    assert records[1]["results"] == {"mardi": 0, "jeudi": 1}
    assert "@bob:test" not in text and "@carol:test" not in text


async def test_decisions_export_csv_guards_formulas_and_markdown(bot: Harness):
    await closed_decision_and_poll(bot)
    csv_text = export_decisions(bot.database, room_id=ROOM, fmt="csv")
    assert csv_text.splitlines()[0].startswith("id,room,kind,question")
    assert "'=On adopte la charte" in csv_text
    markdown = export_decisions(bot.database, fmt="md")
    assert "- **S1** (consent) =On adopte la charte — closed 2027-05-03T08:00:00+00:00" in markdown
    assert "— blocked" in markdown and "winner: jeudi" in markdown
    with pytest.raises(ExportError):
        export_decisions(bot.database, fmt="xlsx")


# The CLI reads a database URL, which cannot name the per-test PostgreSQL schema: SQLite only.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_decisions_export_cli_writes_file(bot: Harness, tmp_path, monkeypatch):
    from bot.tools import cli

    await closed_decision_and_poll(bot)
    url = bot.database.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(cli, "_load", lambda args: type("C", (), {"database_url": url})())
    output = tmp_path / "decisions.json"
    code = cli.main(["export", "decisions", "--format", "json", "--output", str(output)])
    assert code == 0
    assert [r["id"] for r in json.loads(output.read_text(encoding="utf-8"))] == ["S1", "S2"]
