"""Privacy: `!confidentialité` explains what is kept, `!mes-données` sends a person everything
stored about them, `!oublie-moi` erases it, and a daily task applies the retention period.

Design choices:
- the export goes to a direct room the bot opens on demand (and reuses): a JSON file with
  everything, plus a readable summary, in the language of the room where it was asked. When
  the bot can encrypt, that room is created encrypted and the file is an encrypted
  attachment (a direct room opened before, unencrypted, is replaced by a new one); when it
  cannot, the room stays unencrypted;
- `!oublie-moi` must be repeated within 5 minutes; then the person's proposals keep their
  number (others' supports and the room's history stay coherent) but lose text, tags and
  author — the text becomes « supprimé à la demande de l'auteur », written in each room's
  language at that moment and flagged as erased; their supports, votes and RSVPs are
  deleted; events and polls they announced become anonymous. Messages already posted
  (digests included) are Matrix messages and stay: the confirmation says so;
- the retention period is applied daily by ``handlers.privacy.retention``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.runtime.context import Context
from bot.runtime.kit import Feature, Services
from bot.runtime.messages import notice_content
from bot.runtime.room_settings import resolve
from bot.runtime.router import Command
from bot.text.errors import UserError
from bot.text.i18n import N_
from handlers.shared.direct import open_direct_room as shared_open_direct_room
from storage.privacy import PrivacyRepository
from storage.rooms import RoomSettingsRepository

log = logging.getLogger(__name__)

CONFIRM_WITHIN = timedelta(minutes=5)
SUMMARY_LIMIT = 30  # items listed per section in the summary; the file has everything
SUMMARY_TEXT_LENGTH = 200

ERASED_TEXT = N_("(deleted at the author's request)")
ANONYMOUS = N_("anonymous")
UPLOAD_FAILED = N_("Your data file could not be uploaded right now; please try again later.")
SENT_DM = N_("I sent you a direct message with everything Concerto stores about you.")
CONFIRM_FORGET = N_(
    "This will erase or anonymise everything Concerto stores about you, in every room: your "
    "proposals' text and tags, your supports, votes and RSVPs. It cannot be undone. To "
    "confirm, send {command} again within 5 minutes."
)
FILENAME = N_("concerto-my-data.json")


# --- direct room -------------------------------------------------------------------------------


def can_encrypt(services: Services) -> bool:
    """Whether direct rooms are encrypted: the bot has working keys."""
    return services.gateway.encryption_ready


async def open_direct_room(
    services: Services, session: Session, user_id: str, now: datetime, *, encrypted: bool = False
) -> str:
    """The direct room with ``user_id`` (see ``handlers.shared.direct``)."""
    return await shared_open_direct_room(
        services.gateway, session, user_id, now, encrypted=encrypted
    )


# --- summaries ---------------------------------------------------------------------------------


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_TEXT_LENGTH else flat[: SUMMARY_TEXT_LENGTH - 1] + "…"


REACTION_KINDS = {
    "support": N_("support (👍)"),
    "retained": N_("mark: retained (⭐)"),
    "set_aside": N_("mark: set aside (🗄️)"),
}
RSVP_ANSWERS = {
    "going": N_("going (✅)"),
    "maybe": N_("maybe (🤔)"),
    "not_going": N_("not going (❌)"),
}


def summary_sections(data: dict[str, Any], t: Callable[..., str]) -> list[dict[str, Any]]:
    """The summary's sections (translated titles, one line per item), empty ones left out;
    each lists at most SUMMARY_LIMIT items, the file has the rest."""
    lines: list[tuple[str, list[str]]] = [
        (
            N_("Your proposals ({n}):"),
            [
                f"{p['id']} — {_short(p['text'])}"
                + (" · " + " ".join("#" + tag for tag in p["tags"]) if p["tags"] else "")
                + f" · 👍 {p['supports']} · {p['room_id']}"
                for p in data["proposals"]
            ],
        ),
        (
            N_("Your reactions on proposals ({n}):"),
            [
                f"{r['proposal']} — {t(REACTION_KINDS.get(r['kind'], r['kind']))} · {r['room_id']}"
                for r in data["proposal_reactions"]
            ],
        ),
        (
            N_("Your poll votes ({n}):"),
            [
                f"{v['poll']} — {_short(v['question'])} → "
                f"{', '.join(v['answers'])} · {v['room_id']}"
                for v in data["poll_votes"]
            ],
        ),
        (
            N_("Your RSVPs ({n}):"),
            [
                f"{r['item']} — {_short(r['title'])} → "
                f"{t(RSVP_ANSWERS.get(r['answer'], r['answer']))} · {r['room_id']}"
                for r in data["rsvps"]
            ],
        ),
        (
            N_("Polls you started ({n}):"),
            [
                f"{p['poll']} — {_short(p['question'])} · {p['room_id']}"
                for p in data["polls_started"]
            ],
        ),
        (
            N_("Events and deadlines you announced ({n}):"),
            [
                f"{i['item']} — {_short(i['title'])} · {i['room_id']}"
                for i in data["events_and_deadlines_announced"]
            ],
        ),
    ]
    return [
        {
            "title": t(title, n=len(entries)),
            "lines": entries[:SUMMARY_LIMIT],
            "more": max(0, len(entries) - SUMMARY_LIMIT),
        }
        for title, entries in lines
        if entries
    ]


def room_language(session: Session, services: Services, room_id: str) -> str:
    return resolve(
        room_id, RoomSettingsRepository(session).get(room_id), services.config.bot
    ).language


# --- commands ----------------------------------------------------------------------------------


class PrivacyCommands:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def confidentialite(self, ctx: Context) -> None:
        prefix = self.services.config.bot.command_prefix
        ctx.reply_template(
            "privacy_notice",
            retention_days=self.services.config.privacy.retention_days,
            my_data=prefix + ctx.t(N_("my-data")),
            forget_me=prefix + ctx.t(N_("forget-me")),
        )

    async def mes_donnees(self, ctx: Context) -> None:
        now = ctx.clock.now()
        data = PrivacyRepository(ctx.session).collect(ctx.sender)
        data["generated_at"] = now.isoformat()
        data["retention_days"] = self.services.config.privacy.retention_days
        payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
        encrypted = can_encrypt(self.services)
        room_id = await open_direct_room(
            self.services, ctx.session, ctx.sender, now, encrypted=encrypted
        )
        filename = ctx.t(FILENAME)
        gateway = self.services.gateway
        try:
            location = await gateway.upload_file(
                payload, content_type="application/json", filename=filename, encrypt=encrypted
            )
        except Exception:
            log.exception("export upload failed", extra={"room_id": ctx.room_id})
            raise UserError(UPLOAD_FAILED) from None
        rendered = self.services.renderer.render(
            "privacy_export",
            ctx.language,
            user_id=ctx.sender,
            retention_days=data["retention_days"],
            forget_me=self.services.config.bot.command_prefix + ctx.t(N_("forget-me")),
            sections=summary_sections(data, ctx.t),
        )
        outbox = self.services.outbox
        outbox.enqueue(
            ctx.session,
            key=f"privacy-export:{ctx.event_id}:summary",
            room_id=room_id,
            content=notice_content(rendered),
        )
        outbox.enqueue(
            ctx.session,
            key=f"privacy-export:{ctx.event_id}:file",
            room_id=room_id,
            content={
                "msgtype": "m.file",
                "body": filename,
                "filename": filename,
                **location,
                "info": {"mimetype": "application/json", "size": len(payload)},
                "m.mentions": {},
            },
        )
        ctx.reply(SENT_DM)

    async def oublie_moi(self, ctx: Context) -> None:
        now = ctx.clock.now()
        repository = PrivacyRepository(ctx.session)
        pending = repository.get_forget_request(ctx.sender)
        if pending is None or now - pending.requested_at > CONFIRM_WITHIN:
            repository.add_forget_request(ctx.sender, ctx.room_id, now)
            command = self.services.config.bot.command_prefix + ctx.t(N_("forget-me"))
            ctx.reply(CONFIRM_FORGET, command=command)
            return
        services, session = self.services, ctx.session
        languages: dict[str, str] = {}

        def language(room_id: str) -> str:
            if room_id not in languages:
                languages[room_id] = room_language(session, services, room_id)
            return languages[room_id]

        def in_room(msgid: str) -> Any:
            return lambda room_id: services.translations.for_language(language(room_id)).render(
                msgid
            )

        names = {ctx.display_name(ctx.sender)} - {ctx.sender}
        report = repository.forget(
            ctx.sender,
            now=now,
            erased_text=in_room(ERASED_TEXT),
            anonymous=in_room(ANONYMOUS),
            also_scrub=names,
        )
        log.info("erased a person's data on request", extra={"room_id": ctx.room_id})
        ctx.reply_template(
            "privacy_forgotten",
            proposals=report.proposals,
            supports=report.supports,
            ballots=report.ballots,
            rsvps=report.rsvps,
            announced=report.polls + report.agenda_items,
            erased=ctx.t(ERASED_TEXT),
        )


def commands(services: Services) -> list[Command]:
    handlers = PrivacyCommands(services)
    return [
        Command(
            name="confidentialité",
            aliases=("privacy",),
            handler=handlers.confidentialite,
            summary=N_("what Concerto stores about you, who sees it and for how long"),
            usage="",
            examples=(N_("privacy"),),
        ),
        Command(
            name="mes-données",
            aliases=("my-data",),
            handler=handlers.mes_donnees,
            summary=N_("everything stored about you, sent to you in a direct message"),
            usage="",
            examples=(N_("my-data"),),
            details=N_(
                "The bot opens a direct conversation with you (or reuses it) and sends a JSON "
                "file with everything stored about you in every room, and a readable summary."
            ),
        ),
        Command(
            name="oublie-moi",
            aliases=("forget-me",),
            handler=handlers.oublie_moi,
            summary=N_("erase or anonymise everything stored about you (asks to confirm)"),
            usage="",
            examples=(N_("forget-me"),),
            details=N_(
                "Send it twice within 5 minutes. Your proposals keep their number but their "
                "text becomes “deleted at the author's request” and their tags go; your "
                "supports, votes and RSVPs are deleted; events and polls you announced become "
                "anonymous. Messages already posted in rooms (digests included) stay."
            ),
        ),
    ]


def feature(services: Services) -> Feature:
    """Privacy: three commands (the retention period is applied by handlers.privacy.retention)."""
    return Feature(commands=commands(services))
