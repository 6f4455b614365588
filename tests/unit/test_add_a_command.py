"""Adding a command takes one feature and nothing else: the feature below uses only the kit
(``bot.runtime.kit``, ``bot.runtime.router`` and the context it is handed), the builder plugs
it in as it plugs in the bot's own, and the bot then answers it, lists it in its help and keeps
it for organisers when so declared, with no line of the application touched."""

from __future__ import annotations

import pytest
from harness import Harness

from bot.runtime.builder import FeatureFactory
from bot.runtime.context import Context
from bot.runtime.kit import Feature, Services
from bot.runtime.router import Command, Permission

ALICE = "@alice:test"
ORGANISER = "@orga:test"


# The feature, as a new package under handlers/ would write it. Its texts are English msgids;
# without a French catalogue entry they are shown as written.
def chime_feature(services: Services) -> Feature:
    """`!ping` tells anyone the bot is there; `!carillon` lets organisers ring the room."""

    async def ping(ctx: Context) -> None:
        ctx.reply("pong ({time} UTC)", time=services.clock.now().strftime("%H:%M"))

    async def chime(ctx: Context) -> None:
        ctx.reply("Ding dong: {text}", text=ctx.args or "…")

    return Feature(
        commands=[
            Command(
                name="ping",
                aliases=(),
                handler=ping,
                summary="checks that the bot answers",
                usage="",
            ),
            Command(
                name="carillon",
                aliases=("chime",),
                handler=chime,
                summary="rings the room",
                usage="[text]",
                examples=("chime meeting in 5 minutes",),
                permission=Permission.ORGANISERS,
            ),
        ]
    )


@pytest.fixture
def extra_features() -> list[FeatureFactory]:
    return [chime_feature]


@pytest.fixture
def levels() -> dict[str, float]:
    return {ORGANISER: 50}


async def test_add_a_command_is_answered_end_to_end(bot: Harness):
    event = bot.message(ALICE, "!ping")
    [sent] = await bot.deliver(event)
    assert sent["content"]["body"] == "pong (08:00 UTC)"
    assert sent["content"]["msgtype"] == "m.notice"
    assert sent["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event["event_id"]
    # the router's rules hold for it as for the bot's own: any case or accent, near misses
    assert await bot.say(ALICE, "!PING") == ["pong (08:00 UTC)"]
    [suggestion] = await bot.say(ALICE, "!pingg")
    assert "Vouliez-vous dire !ping ?" in suggestion


async def test_add_a_command_is_listed_in_help(bot: Harness):
    member_help = "\n".join(await bot.say(ALICE, "!aide"))
    assert "!ping — checks that the bot answers" in member_help
    assert "!carillon" not in member_help  # organisers only
    organiser_help = "\n".join(await bot.say(ORGANISER, "!aide"))
    assert "!ping — checks that the bot answers" in organiser_help
    assert "!carillon [text] — rings the room" in organiser_help
    [one] = await bot.say(ORGANISER, "!aide chime")
    assert "!carillon" in one and "!chime meeting in 5 minutes" in one


async def test_add_a_command_for_organisers_is_refused_to_a_member(bot: Harness):
    refusal = "Seuls les organisateurs (niveau de pouvoir 50 ou plus) peuvent utiliser {} ici."
    assert await bot.say(ALICE, "!carillon réunion") == [refusal.format("!carillon")]
    # word for word the refusal of the bot's own organiser commands
    assert await bot.say(ALICE, "!échéance Dossier ; demain 18h") == [refusal.format("!échéance")]
    assert await bot.say(ORGANISER, "!chime réunion") == ["Ding dong: réunion"]


def test_add_a_command_whose_name_is_taken_is_refused_by_the_builder(database, clock, config):
    def second_help(services: Services) -> Feature:
        async def aide(ctx: Context) -> None:
            ctx.reply("mine")

        return Feature(commands=[Command("aide", (), aide, summary="help", usage="")])

    with pytest.raises(ValueError, match="declared twice"):
        Harness(database, clock, config, extra_features=[second_help])
