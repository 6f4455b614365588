"""What can go wrong talking to the homeserver, as exceptions the runtime acts on: retry
later, give up on one message, or stop the bot.

Kept apart from the gateway so that the outbox and the rest of the runtime can catch them
without importing the Matrix client."""

from __future__ import annotations


class FatalGatewayError(RuntimeError):
    """The bot cannot go on (rejected token, wrong account): stop with this message."""


class HomeserverUnreachableError(FatalGatewayError):
    """The homeserver did not answer at all (connection refused, DNS, timeout)."""


class SendError(Exception):
    """A send failed. ``retry_after`` (seconds) is set when the server asked us to wait."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class TransientError(Exception):
    """The homeserver is unreachable or overloaded: try again later."""
