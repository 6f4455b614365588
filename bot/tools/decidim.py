"""Proposals as the CSV file Decidim's proposal import accepts (`concerto export proposals
--format decidim`).

What Decidim reads (decidim-admin's CSV reader and decidim-proposals' importer): `;`-separated
cells, a header row, and for each proposal `title/<locale>` and `body/<locale>`, where the locale
must be the Decidim organisation's default locale (the only required columns); an `id` column
would be ignored, and scopes, taxonomies and addresses need Decidim's own IDs, which Concerto
does not know. Decidim attributes imported proposals to the organisation, so the body keeps who
proposed it, when, and a link to the Matrix message, with the themes, supports and status.
Proposals erased at their author's request are left out.
"""

from __future__ import annotations

import csv
import io
import re
from html import escape

from handlers.shared.tags import PROPOSAL_MARKERS
from handlers.shared.text import message_link
from storage.proposals import ProposalView

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
TITLE_LENGTH = 150  # Decidim's default maximum title length
_MARKER = re.compile(r"(?<!\S)#(" + "|".join(PROPOSAL_MARKERS) + r")\b[.,;:!?]?", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
LABELS = {
    "fr": {
        "by": "Proposé par {author} sur Matrix le {date}",
        "message": "le message",
        "themes": "Thèmes",
        "supports": "Soutiens",
        "status": "Statut dans Concerto",
        "open": "en discussion",
        "retained": "retenue",
        "set_aside": "mise de côté",
    },
    "en": {
        "by": "Proposed by {author} on Matrix on {date}",
        "message": "the message",
        "themes": "Themes",
        "supports": "Supports",
        "status": "Status in Concerto",
        "open": "under discussion",
        "retained": "retained",
        "set_aside": "set aside",
    },
}


def title_of(text: str) -> str:
    """The proposal's first line without the #proposition marker, at most 150 characters."""
    without_marker = _MARKER.sub("", text)
    first = next((line for line in without_marker.splitlines() if line.strip()), without_marker)
    flat = _SPACES.sub(" ", first).strip() or _SPACES.sub(" ", text).strip()
    if len(flat) <= TITLE_LENGTH:
        return flat
    return flat[: TITLE_LENGTH - 1].rstrip() + "…"


def body_of(view: ProposalView, language: str) -> str:
    """The proposal's whole text, then who proposed it and where, as the simple HTML Decidim's
    editor stores."""
    labels = LABELS.get(language.split("-")[0], LABELS["en"])
    paragraphs = [
        "<p>" + escape(part.strip()).replace("\n", "<br>") + "</p>"
        for part in re.split(r"\n\s*\n", view.text)
        if part.strip()
    ]
    link = message_link(view.room_id, view.event_id)
    by = escape(labels["by"].format(author=view.author, date=view.created_at.date().isoformat()))
    colon = " :" if language.startswith("fr") else ":"  # French puts a space before a colon
    paragraphs.append(
        f'<p>{by}{colon} <a href="{escape(link)}">{escape(labels["message"])}</a></p>'
    )
    details = []
    tags = list(dict.fromkeys("#" + tag.display for tag in view.tags))
    if tags:
        details.append(f"{labels['themes']}{colon} {' '.join(tags)}")
    details.append(f"{labels['supports']}{colon} {view.supports}")
    details.append(f"{labels['status']}{colon} {labels.get(view.status, view.status)}")
    paragraphs.append("<p>" + escape(" · ".join(details)) + "</p>")
    return "".join(paragraphs)


def to_decidim_csv(views: list[ProposalView], locale: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([f"title/{locale}", f"body/{locale}"])
    for view in views:
        writer.writerow([title_of(view.text), body_of(view, locale)])
    return buffer.getvalue()
