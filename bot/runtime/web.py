"""The web service inside the bot (off unless `[web] listen` is set): each room's capability
links — calendar feed, digest archive, proposals page — and `/healthz`, on the bot's own event
loop (aiohttp), no second process.

A link is `/<kind>/<token>[/<page>]`: the token (192 random bits) is the only key, checked in the
database on every request, so a replaced link answers 404 at once. What a link shows comes from
the feature that declared its kind (``Feature.pages``); the service only checks the link, the
room's consent (an encrypted room's pages need `!réglages pages-web on`), caches and headers.
Anything else — unknown paths, bad tokens, other methods — is a bare 404 (or 400/405/429), with
strict security headers on every answer and nothing that names a room. URLs hold tokens: the
service keeps no access log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web
from sqlmodel import Session

from bot.runtime.clock import Clock
from bot.runtime.config import WebConfig
from bot.runtime.health import Health
from bot.runtime.kit import FeatureGateway, Page, PageProvider, PageRequest
from bot.runtime.room_settings import pages_allowed
from bot.runtime.web_limits import AddressLimiter, client_address
from storage.db import Database
from storage.rooms import RoomSettingsRepository
from storage.web import WebLinkRepository

log = logging.getLogger(__name__)


class _OneLine(logging.Filter):
    """Requests the HTTP parser refuses (a request line over 8 KiB, garbage sent to the port)
    are answered 400 by aiohttp itself; log one line, without the traceback and the request
    line it carries (it may hold a link's token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        record.msg, record.args = "refused a malformed request (%s)", (type(error).__name__,)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


protocol_log = logging.getLogger(__name__ + ".protocol")
protocol_log.addFilter(_OneLine())

SECURITY_HEADERS = {
    # no script can run, nothing is loaded from elsewhere; pages style themselves inline and
    # draw their charts in inline SVG
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # a link's token never leaks to the sites pages link to
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
KIND = re.compile(r"^[a-z]{1,16}$")
PAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # one segment: never "..", never "/"
MAX_QUERY = 512  # characters of query string a page may get
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def plain(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


NOT_FOUND_TEXT = "Not found."


class WebService:
    """The aiohttp application and what it serves."""

    def __init__(
        self,
        config: WebConfig,
        *,
        database: Database,
        clock: Clock,
        gateway: FeatureGateway,
        pages: Mapping[str, PageProvider],
        health: Health,
        limiter: AddressLimiter | None = None,
    ) -> None:
        self.config = config
        self.database = database
        self.clock = clock
        self.gateway = gateway
        self.pages = pages
        self.health = health
        self.limiter = limiter or AddressLimiter()
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._limits], client_max_size=1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/{kind}/{token}", self._link)
        app.router.add_get("/{kind}/{token}/{page}", self._link)
        app.on_response_prepare.append(_secure)
        return app

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on `[web] listen`; raises OSError when the address cannot be used."""
        runner = web.AppRunner(
            self.application(), access_log=None, handle_signals=False, logger=protocol_log
        )
        await runner.setup()
        host, port = self.config.address()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("web service listening on %s (public address %s)", self.config.listen,
                 self.config.public_url)  # fmt: skip

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- middlewares -----------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every failure is a short plain answer: no framework page, no trace."""
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status == 404:
                return plain(404, NOT_FOUND_TEXT)
            headers = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
            return plain(error.status, error.reason, headers)
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("web request failed (incident %s)", incident)
            return plain(500, f"Internal error (incident {incident}).")

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        address = client_address(request.remote, request.headers)
        wait = self.limiter.wait_needed(address)
        if wait:
            return plain(429, "Too many requests.", {"Retry-After": str(math.ceil(wait))})
        return await handler(request)

    # --- routes ----------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, status = self.health.report()
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(status, sort_keys=True),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _link(self, request: web.Request) -> web.Response:
        kind, token = request.match_info["kind"], request.match_info["token"]
        path = request.match_info.get("page", "")
        provider = self.pages.get(kind) if KIND.match(kind) else None
        if provider is None or not TOKEN.match(token) or (path and not PAGE.match(path)):
            raise web.HTTPNotFound()
        if len(request.query_string) > MAX_QUERY:
            raise web.HTTPBadRequest()
        now = self.clock.now()
        with self.database.session() as session:
            room_id = WebLinkRepository(session).room_for(kind, token)
            if room_id is None or not self._may_show(session, room_id):
                raise web.HTTPNotFound()
            page_request = PageRequest(
                room_id=room_id,
                path=path,
                query={key: request.query[key] for key in request.query},
                base_url=f"{self.config.public_url.rstrip('/')}/{kind}/{token}",
                now=now,
            )
            page = provider(session, page_request)
        if page is None:
            raise web.HTTPNotFound()
        return conditional(request, page)

    def _may_show(self, session: Session, room_id: str) -> bool:
        """As the room's organisers said; an encrypted room's pages leave end-to-end
        encryption, so only once they agreed."""
        stored = RoomSettingsRepository(session).get(room_id)
        return pages_allowed(
            stored.web_pages if stored else None, encrypted=self.gateway.is_encrypted(room_id)
        )


def conditional(request: web.Request, page: Page) -> web.Response:
    """The page, or 304 when the client's copy (ETag, Last-Modified) is still current."""
    etag = '"' + hashlib.sha256(page.body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    modified = None
    if page.last_modified is not None:  # HTTP dates are to the second
        modified = page.last_modified.astimezone(UTC).replace(microsecond=0)
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:  # when both are sent, the ETag decides (RFC 9110)
        fresh = etag in {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    else:
        since = _http_date(request.headers.get("If-Modified-Since"))
        fresh = modified is not None and since is not None and modified <= since
    if fresh:
        return web.Response(status=304, headers=headers)
    return web.Response(body=page.body, headers={**headers, "Content-Type": page.content_type})


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "concerto"  # not the framework and its version
