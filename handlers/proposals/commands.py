"""Proposals: `!proposition`, passive `#proposition` capture, `!propositions`, 👍 supports,
organisers' marks, edits and deletions.

Design choices (documented in the command help):
- a recorded proposal gets a 📝 reaction on its message (no message noise); the
  `!proposition` command also answers a short notice with the ID, since the person asked;
- refusals (empty, too long, repeated) are answered for passive capture too: someone who
  typed #proposition expects to hear why nothing was recorded;
- 👍 is a support, one per person, the author's own does not count; organisers react ⭐ to
  mark a proposal retained and 🗄️ to set it aside (the latest mark still in place wins;
  removing it undoes it) — reactions need no syntax and show on the message itself;
- an edit by the author updates the text and tags, even if it drops the #proposition marker
  (the proposal is not silently lost); a deleted message deletes the stored proposal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.runtime.context import Context
from bot.runtime.kit import Feature, Hooks, Services
from bot.runtime.messages import notice_content
from bot.runtime.router import Command, fold, split_command
from bot.text.errors import UserError
from bot.text.i18n import N_, Message
from bot.text.replies import command_text
from handlers.proposals.listing import STATUS_NAMES, tag_display_map
from handlers.proposals.page import PAGE_KIND, ProposalsLink, ProposalsPage
from handlers.shared.tags import (
    PROPOSAL_MARKERS,
    Tag,
    TagError,
    apply_synonyms,
    extract_tags,
    fold_tag,
    split_proposal,
    validate_proposal_text,
)
from handlers.shared.text import message_link, shorten
from storage.proposal_models import Proposal
from storage.proposals import (
    RETAINED,
    SET_ASIDE,
    SUPPORT,
    ProposalRepository,
    ProposalView,
    TagSpelling,
)

ACK_KEY = "📝"
SUPPORT_KEY = "👍"
RETAINED_KEY = "⭐"
SET_ASIDE_KEY = "🗄"  # usually sent with U+FE0F, which normalise_key drops
PAGE_SIZE = 10
COMMAND_NAMES = ("proposition", "proposal", "propose")

_VARIATION_AND_SKIN = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_PAGE_RE = re.compile(r"(?<!\S)page\s*:?\s*(\S+)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

DUPLICATE = N_("You already proposed this here ({id}); it stays recorded once.")
RECORDED = N_("Proposal {id} recorded.")
RECORDED_WITH_TAGS = N_("Proposal {id} recorded ({tags}).")
EDIT_REFUSED = N_("The edit of proposal {id} was not applied: {reason}")
BAD_PAGE = N_("Give a page number, e.g. {example}.")
NO_SUCH_PAGE = N_("There is no page {page}: the list has {pages} page(s).")
BAD_TAG = N_("“{word}” is not a tag; filter with hashtags, e.g. {example}.")


def normalise_key(key: str) -> str:
    """A reaction key without variation selectors and skin tones (👍🏽, 👍️ → 👍)."""
    return _VARIATION_AND_SKIN.sub("", key).strip()


def duplicate_key(text: str) -> str:
    """What makes two proposals "the same": words, case and spacing aside, markers ignored."""
    words = [
        word
        for word in text.split()
        if not (word.startswith("#") and fold_tag(word.rstrip(".,;:!?")) in PROPOSAL_MARKERS)
    ]
    return _SPACES.sub(" ", " ".join(words)).casefold().strip()


def spellings_of(tags: Sequence[Tag], synonyms: Mapping[str, str]) -> list[TagSpelling]:
    """Tags as stored: the spelling written, the folded form with synonyms applied."""
    return [TagSpelling(tag.display, apply_synonyms(tag.folded, synonyms)) for tag in tags]


def proposal_text_for_edit(body: str, source: str, prefix: str) -> str:
    """The proposal text in an edited body: without the command name for command proposals."""
    text = command_text(body)
    if source == "command":
        parsed = split_command(text, prefix)
        if parsed is not None and fold(parsed[0]) in COMMAND_NAMES:
            return parsed[1]
    return text


def record(ctx: Context, text: str, tags: Sequence[Tag], source: str) -> Proposal:
    """Store a validated proposal for the current message, or refuse a repeated one."""
    repository = ProposalRepository(ctx.session)
    key = duplicate_key(text)
    for earlier in repository.list_by_author(ctx.room_id, ctx.sender):
        if duplicate_key(earlier.text) == key:
            raise UserError(DUPLICATE, id=earlier.short_id)
    proposal = repository.add(
        room_id=ctx.room_id,
        event_id=ctx.event_id,
        author=ctx.sender,
        text=text,
        tags=spellings_of(tags, ctx.room.tag_synonyms),
        source=source,
        created_at=ctx.origin_ts,
        thread_root=ctx.thread_root,
    )
    ctx.react(ACK_KEY)
    return proposal


def parse_list_args(args: str, synonyms: Mapping[str, str]) -> tuple[list[str], int]:
    """`#numérique ess page 2` → (canonical tags, page). Bare words count as tags too."""
    page = 1
    match = _PAGE_RE.search(args)
    if match:
        if not match.group(1).isdigit() or int(match.group(1)) < 1:
            raise UserError(BAD_PAGE, example="!propositions page 2")
        page = int(match.group(1))
        args = args[: match.start()] + " " + args[match.end() :]
    tags: list[str] = []
    for word in re.split(r"[\s,;]+", args):
        if not word:
            continue
        body = word.lstrip("#")
        found = extract_tags(f"#{body}")
        if len(found) != 1 or found[0].display != body.rstrip("-_"):
            raise UserError(BAD_TAG, word=word, example="!propositions #numérique")
        canonical = apply_synonyms(found[0].folded, synonyms)
        if canonical not in tags:
            tags.append(canonical)
    return tags, page


def entry(
    view: ProposalView, ctx: Context, displays: Mapping[str, str], synonyms: Mapping[str, str]
) -> dict[str, Any]:
    """What the list template shows for one proposal."""
    tags: list[str] = []
    for tag in view.tags:
        canonical = apply_synonyms(tag.folded, synonyms)
        shown = "#" + displays.get(canonical, tag.display)
        if shown not in tags:
            tags.append(shown)
    return {
        "id": view.short_id,
        "text": shorten(view.text),
        "author": ctx.display_name(view.author),
        "tags": tags,
        "supports": view.supports,
        "status": ctx.t(STATUS_NAMES.get(view.status, view.status)),
        "is_open": view.status == "open",
        "link": message_link(view.room_id, view.event_id),
    }


# --- commands ---------------------------------------------------------------------------------


def read_proposal_text(ctx: Context) -> str:
    """`!proposition` arguments: the text, refused if it has no words or is too long."""
    return validate_proposal_text(ctx.args)


LINK, NEW_LINK = "link", "new-link"
LINK_WORDS = {"lien": LINK, "link": LINK, "nouveau-lien": NEW_LINK, "new-link": NEW_LINK}


def read_list_filters(ctx: Context) -> tuple[list[str], int] | str:
    """`!propositions` arguments: canonical tags to filter by, and the page; or `lien` (the
    link to the proposals page) or `nouveau-lien` (a new one); a #lien tag keeps its #."""
    word = LINK_WORDS.get(fold(ctx.args.strip()))
    if word is not None:
        return word
    return parse_list_args(ctx.args, ctx.room.tag_synonyms)


async def proposition(ctx: Context) -> None:
    text: str = ctx.arguments
    _, tags = split_proposal(text)
    proposal = record(ctx, text, tags, source="command")
    if tags:
        ctx.reply(
            RECORDED_WITH_TAGS,
            id=proposal.short_id,
            tags=", ".join(tag.hashtag for tag in tags),
        )
    else:
        ctx.reply(RECORDED, id=proposal.short_id)


async def propositions(ctx: Context, link: ProposalsLink) -> None:
    if ctx.arguments == LINK:
        await link.give(ctx)
        return
    if ctx.arguments == NEW_LINK:
        await link.replace(ctx)
        return
    synonyms = ctx.room.tag_synonyms
    tags, page = ctx.arguments
    repository = ProposalRepository(ctx.session)
    total = repository.count(ctx.room_id, tags=tags, synonyms=synonyms)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        raise UserError(NO_SUCH_PAGE, page=page, pages=pages)
    views = repository.list(
        ctx.room_id,
        tags=tags,
        synonyms=synonyms,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    displays = tag_display_map(repository, ctx.room_id, synonyms)
    ctx.reply_template(
        "proposals_list",
        proposals=[entry(view, ctx, displays, synonyms) for view in views],
        filters=["#" + displays.get(tag, tag) for tag in tags],
        total=total,
        page=page,
        pages=pages,
        next_command="!propositions "
        + " ".join(["#" + displays.get(tag, tag) for tag in tags] + [f"page {page + 1}"]),
    )


# --- hooks ------------------------------------------------------------------------------------


async def on_message(ctx: Context, body: str, raw: dict[str, Any]) -> None:
    """Passive capture: any message carrying #proposition or #proposal (backlog included)."""
    text = command_text(body)
    marked, tags = split_proposal(text)
    if not marked:
        return
    try:
        text = validate_proposal_text(text)
        record(ctx, text, tags, source="message")
    except (TagError, UserError) as error:
        ctx.reply(error.message)  # the runtime only answers commands; answer here


def _reply_to(ctx: Context, proposal: Proposal, message: Message) -> None:
    rendered = ctx.renderer.text(ctx.language, message)
    content = notice_content(rendered, reply_to=proposal.event_id, thread_root=proposal.thread_root)
    ctx.send(f"proposal-edit:{ctx.event_id}", content)


def edit_hook(prefix: str) -> Any:
    async def on_edit(ctx: Context, target_event_id: str, new_content: dict[str, Any]) -> None:
        """The author edited a proposal's message: update its text and tags."""
        repository = ProposalRepository(ctx.session)
        proposal = repository.get_by_event(ctx.room_id, target_event_id)
        body = new_content.get("body")
        if proposal is None or proposal.author != ctx.sender or not isinstance(body, str):
            return
        try:
            text = validate_proposal_text(proposal_text_for_edit(body, proposal.source, prefix))
        except TagError as error:
            reason = ctx.t(error.message)
            _reply_to(
                ctx, proposal, Message(EDIT_REFUSED, {"id": proposal.short_id, "reason": reason})
            )
            return
        _, tags = split_proposal(text)
        repository.update(
            proposal,
            text=text,
            tags=spellings_of(tags, ctx.room.tag_synonyms),
            edited_at=ctx.origin_ts,
        )

    return on_edit


async def on_reaction(ctx: Context, target_event_id: str, key: str) -> None:
    """👍 supports (not the author's own); organisers' ⭐ / 🗄️ mark the proposal."""
    normalised = normalise_key(key)
    kinds = {SUPPORT_KEY: SUPPORT, RETAINED_KEY: RETAINED, SET_ASIDE_KEY: SET_ASIDE}
    kind = kinds.get(normalised)
    if kind is None:
        return
    repository = ProposalRepository(ctx.session)
    proposal = repository.get_by_event(ctx.room_id, target_event_id)
    if proposal is None:
        return
    if kind == SUPPORT and ctx.sender == proposal.author:
        return
    if kind != SUPPORT and not await ctx.is_organiser():
        return
    repository.add_reaction(
        proposal, reaction_event_id=ctx.event_id, user_id=ctx.sender, kind=kind, at=ctx.origin_ts
    )


async def on_redaction(ctx: Context, redacted_event_id: str) -> None:
    """A deleted proposal message deletes the proposal; a removed reaction stops counting."""
    repository = ProposalRepository(ctx.session)
    proposal = repository.get_by_event(ctx.room_id, redacted_event_id)
    if proposal is not None:
        repository.delete(proposal)
        return
    repository.delete_reaction(redacted_event_id)


def commands(link: ProposalsLink) -> list[Command]:
    details = N_(
        "You can also add #proposition (or #proposal) to any message. 📝 on your message means "
        "it is recorded. 👍 on a proposal supports it (one per person; not your own). "
        "Organisers react ⭐ to mark it retained or 🗄️ to set it aside; removing the reaction "
        "undoes it. Editing the message updates the proposal (it stays a proposal even "
        "without #proposition); deleting the message deletes the proposal."
    )
    return [
        Command(
            name="proposition",
            aliases=("proposal", "propose"),
            handler=proposition,
            arguments=read_proposal_text,
            summary=N_("record a proposal; its hashtags become its tags"),
            usage=N_("<text with #tags>"),
            examples=(N_("proposal A tiers-lieu in every canton #tierslieux #ESS"),),
            details=details,
            backlog=True,
        ),
        Command(
            name="propositions",
            aliases=("proposals",),
            handler=lambda ctx: propositions(ctx, link),
            arguments=read_list_filters,
            summary=N_("this room's proposals, newest first, optionally filtered by tags"),
            usage=N_("[#tag …] [page N] | lien | nouveau-lien"),
            examples=(
                N_("proposals"),
                N_("proposals #digital"),
                N_("proposals page 2"),
                N_("proposals link"),
            ),
            details=N_(
                "Shows 10 proposals per page with their ID, author, tags, 👍 supports, status "
                "and a link to the message. With several tags, proposals having any of them "
                "are listed. Tags match without case or accents (#Numerique = #numérique) and "
                "follow the room's synonyms (!réglages synonyme). With lien (link), the bot "
                "gives the link to the room's proposals page on the web (when it has a web "
                "service): every proposal, most supported first, filterable by theme; "
                "nouveau-lien (new-link, organisers) replaces it and the old link stops working."
            ),
        ),
    ]


def hooks(prefix: str) -> Hooks:
    return Hooks(
        messages=[on_message],
        reactions=[on_reaction],
        redactions=[on_redaction],
        edits=[edit_hook(prefix)],
    )


def feature(services: Services) -> Feature:
    """Proposals: two commands, the message, reaction, redaction and edit hooks, and the
    room's proposals page on the web."""
    page = ProposalsPage(services.config.bot, services.renderer, services.gateway)
    link = ProposalsLink(services)
    return Feature(
        commands=commands(link),
        hooks=hooks(services.config.bot.command_prefix),
        pages={PAGE_KIND: page},
    )
