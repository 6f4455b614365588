"""The text a person typed, without what their client added around it."""

from __future__ import annotations


def command_text(body: str) -> str:
    """Drop a rich-reply fallback (``> <@x> …`` lines) that old clients put before the text."""
    lines = body.splitlines()
    if lines and lines[0].startswith("> "):
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join(lines)
