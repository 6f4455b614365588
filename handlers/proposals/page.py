"""A room's proposals page, served by the web service at the room's `proposals` link
(`!propositions lien`): every proposal, most supported first, filterable by theme with plain
links (`?tag=…`), readable on a phone, without JavaScript. Built from the database on each
request, so a deleted proposal or an erased author's proposals are gone at once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlmodel import Session

from bot.runtime.config import BotConfig
from bot.runtime.context import Context
from bot.runtime.kit import FeatureGateway, Page, PageRequest, Services
from bot.runtime.messages import MessageRenderer
from bot.runtime.room_settings import resolve
from bot.text.dates import format_when
from handlers.proposals.listing import STATUS_NAMES, tag_display_map
from handlers.shared.tags import apply_synonyms, fold_tag
from handlers.shared.text import message_link
from handlers.shared.weblinks import WebLinks, room_title
from storage.proposals import ProposalRepository, ProposalView
from storage.rooms import RoomSettingsRepository

PAGE_KIND = "proposals"
MAX_TAG = 64


class ProposalsPage:
    def __init__(
        self, defaults: BotConfig, renderer: MessageRenderer, gateway: FeatureGateway
    ) -> None:
        self.defaults = defaults
        self.renderer = renderer
        self.gateway = gateway

    def __call__(self, session: Session, request: PageRequest) -> Page | None:
        if request.path:
            return None
        room = resolve(
            request.room_id, RoomSettingsRepository(session).get(request.room_id), self.defaults
        )
        synonyms = room.tag_synonyms
        repository = ProposalRepository(session)
        views = repository.list_published(room.room_id, synonyms=synonyms)
        displays = tag_display_map(repository, room.room_id, synonyms)
        canonical = {view.id: self._canonical_tags(view, synonyms) for view in views}
        counts = Counter(tag for tags in canonical.values() for tag in tags)
        asked = request.query.get("tag", "")[:MAX_TAG].strip().lstrip("#")
        selected = apply_synonyms(fold_tag(asked), synonyms) if asked else ""
        shown = [view for view in views if not selected or selected in canonical[view.id]]
        translator = self.renderer.translations.for_language(room.language)

        def entry(view: ProposalView) -> dict[str, Any]:
            return {
                "id": view.short_id,
                "text": view.text,
                "author": self.gateway.display_name(room.room_id, view.author),
                "when": format_when(view.created_at, tz=room.tz, language=room.language),
                "tags": ["#" + displays.get(tag, tag) for tag in canonical[view.id]],
                "supports": view.supports,
                "status": translator.render(STATUS_NAMES.get(view.status, view.status)),
                "link": message_link(view.room_id, view.event_id),
            }

        themes = [
            {
                "name": displays.get(tag, tag),
                "query": displays.get(tag, tag),
                "count": count,
                "selected": tag == selected,
            }
            for tag, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        html = (
            self.renderer.environment(room.language)
            .get_template("web_proposals.html.j2")
            .render(
                language=room.language,
                room_name=room_title(session, room.room_id),
                total=len(views),
                themes=themes,
                selected=("#" + displays.get(selected, asked)) if selected else "",
                proposals=[entry(view) for view in shown],
            )
        )
        return Page(html.encode(), "text/html; charset=utf-8")

    @staticmethod
    def _canonical_tags(view: ProposalView, synonyms: dict[str, str]) -> list[str]:
        tags: list[str] = []
        for tag in view.tags:
            canonical = apply_synonyms(tag.folded, synonyms)
            if canonical not in tags:
                tags.append(canonical)
        return tags


class ProposalsLink:
    """`!propositions lien` / `nouveau-lien`: the link to the room's proposals page."""

    def __init__(self, services: Services) -> None:
        self.links = WebLinks(services.config.web, services.gateway, PAGE_KIND)

    async def give(self, ctx: Context) -> None:
        url = self.links.link(ctx)
        await self.links.learn_name(ctx)
        ctx.reply(
            "This room's proposals, most supported first, with their themes: {url} "
            "(anyone who has this link can read them).",
            url=url,
        )

    async def replace(self, ctx: Context) -> None:
        await ctx.require_organiser()
        url = self.links.link(ctx, replace=True)
        await self.links.learn_name(ctx)
        ctx.reply(
            "New link to this room's proposals page: {url}. The previous link no longer works.",
            url=url,
        )
