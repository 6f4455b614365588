"""How proposals are shown wherever they are listed (`!propositions`, the proposals page):
their status names and the spelling each tag is shown with."""

from __future__ import annotations

from collections.abc import Mapping

from bot.text.i18n import N_
from handlers.shared.tags import apply_synonyms, fold_tag, most_used_spelling
from storage.proposals import RETAINED, SET_ASIDE, ProposalRepository

STATUS_NAMES = {
    "open": N_("under discussion"),
    RETAINED: N_("retained"),
    SET_ASIDE: N_("set aside"),
}


def tag_display_map(
    repository: ProposalRepository, room_id: str, synonyms: Mapping[str, str]
) -> dict[str, str]:
    """Canonical folded tag → the spelling most used for it in this room (digests use it too)."""
    grouped: dict[str, list[str]] = {}
    for spelling in repository.spellings(room_id):
        grouped.setdefault(apply_synonyms(spelling.folded, synonyms), []).append(spelling.display)
    result = {}
    for canonical, displays in grouped.items():
        own = [display for display in displays if fold_tag(display) == canonical]
        result[canonical] = most_used_spelling(own or displays)
    return result
