"""A person invites the bot, asks for help, changes the language; members are refused."""

from __future__ import annotations

from matrix_people import text


def notice_from(user_id: str):
    def match(event: dict) -> bool:
        content = event.get("content") or {}
        return event.get("sender") == user_id and content.get("msgtype") == "m.notice"

    return match


async def test_help_answers_in_french_then_english_after_language_change(bot_room, make_person):
    bot, organiser, room_id = bot_room

    asked = await organiser.send_text(room_id, "!aide")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    content = reply["content"]
    assert "Commandes que vous pouvez utiliser ici" in content["body"]
    assert "!réglages" in content["body"]
    assert content["m.mentions"] == {}
    assert content["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    assert "<ul>" in content["formatted_body"]

    changed = await organiser.send_text(room_id, "!réglages langue en")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=changed)
    assert reply["content"]["body"] == "Setting langue changed."

    asked = await organiser.send_text(room_id, "!help")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Commands you can use here" in reply["content"]["body"]


async def test_member_cannot_change_settings_and_sees_fewer_commands(bot_room, make_person):
    bot, organiser, room_id = bot_room
    member = await make_person("member")
    await organiser.invite(room_id, member.user_id)
    await member.join(room_id)

    asked = await member.send_text(room_id, "!Reglages langue en")
    reply = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Seuls les organisateurs" in reply["content"]["body"]

    asked = await member.send_text(room_id, "!réglages")
    reply = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Réglages de ce salon" in reply["content"]["body"]
    assert "Europe/Paris" in reply["content"]["body"]

    asked = await member.send_text(room_id, "!aide")
    reply = await member.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert (
        "Les organisateurs (niveau de pouvoir 50 ou plus) ont d'autres commandes"
        in (reply["content"]["body"])
    )


async def test_unknown_command_names_the_closest_one(bot_room):
    bot, organiser, room_id = bot_room
    asked = await organiser.send_text(room_id, "!reglage")
    reply = await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    assert "Vouliez-vous dire !réglages" in reply["content"]["body"]


async def test_notices_and_edits_are_never_commands(bot_room):
    bot, organiser, room_id = bot_room
    asked = await organiser.send_text(room_id, "!aide")
    await organiser.wait_for(room_id, notice_from(bot.user_id), after=asked)
    edited = await organiser.edit(room_id, asked, "!aide réglages")
    await organiser.send_text(room_id, "!aide", msgtype="m.notice")
    await organiser.assert_no_event(room_id, text(sender=bot.user_id), after=edited)
