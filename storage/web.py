"""The web links repository: one capability token per room and kind, made, read and replaced."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session, select

from storage.web_models import WebLink

TOKEN_BYTES = 24  # 192 random bits; 32 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class WebLinkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, room_id: str, kind: str) -> WebLink | None:
        statement = select(WebLink).where(WebLink.room_id == room_id, WebLink.kind == kind)
        return self.session.exec(statement).first()

    def get_or_add(self, room_id: str, kind: str, now: datetime) -> WebLink:
        """The room's link of this kind, made on first request."""
        link = self.get(room_id, kind)
        if link is None:
            link = WebLink(room_id=room_id, kind=kind, token=new_token(), created_at=now)
            self.session.add(link)
            self.session.flush()
        return link

    def replace(self, room_id: str, kind: str, now: datetime) -> WebLink:
        """A new token for the room's link of this kind: the old one answers nothing from now."""
        link = self.get(room_id, kind)
        if link is None:
            return self.get_or_add(room_id, kind, now)
        link.token = new_token()
        link.created_at = now
        self.session.add(link)
        self.session.flush()
        return link

    def room_for(self, kind: str, token: str) -> str | None:
        """The room whose current link of this kind has this token."""
        statement = select(WebLink.room_id).where(WebLink.kind == kind, WebLink.token == token)
        return self.session.exec(statement).first()

    def delete_room(self, room_id: str) -> None:
        """Every link of a room (the bot left it: nothing of it is served any more)."""
        for link in self.session.exec(select(WebLink).where(WebLink.room_id == room_id)):
            self.session.delete(link)
