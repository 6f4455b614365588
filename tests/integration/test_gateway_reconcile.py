"""After the homeserver forgot a transaction ID, the bot still finds what it already sent."""

from __future__ import annotations

from matrix_people import MakePerson, MakeUser

from bot.matrix.gateway import MatrixGateway
from bot.tools.local_homeserver import LocalHomeserver


async def test_sent_event_is_found_by_its_transaction_id(
    homeserver: LocalHomeserver, make_user: MakeUser, make_person: MakePerson
):
    alice = await make_person("alice")
    account = await make_user("bot")
    room_id = await alice.create_room("Salon", invite=[account.user_id])
    gateway = MatrixGateway(homeserver.url, account.user_id, "bot")
    try:
        gateway.client.restore_login(account.user_id, account.device_id, account.access_token)
        assert await gateway.join(room_id)
        await gateway.sync(since=None, timeout_ms=0, sync_filter=None, full_state=True)
        sent = await gateway.send(
            room_id, "m.room.message", {"msgtype": "m.notice", "body": "x"}, "t-42"
        )
        for index in range(5):
            await alice.send_text(room_id, f"later {index}")
        await gateway.sync(
            since=gateway.client.next_batch, timeout_ms=0, sync_filter=None, full_state=False
        )
        assert await gateway.find_sent(room_id, "t-42") == sent
        assert await gateway.find_sent(room_id, "t-unknown") is None
    finally:
        await gateway.close()
