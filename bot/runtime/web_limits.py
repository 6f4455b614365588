"""Per-address request limits of the web service, and which address a request comes from."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# A calendar app polls a feed every few minutes and a reader opens a few pages a minute; a
# scraper guessing links or a loop does hundreds. Per address: bursts of BURST requests, then
# PER_MINUTE a minute.
PER_MINUTE = 60
BURST = 30
MAX_TRACKED = 10_000  # addresses remembered at once; full buckets are forgotten first


@dataclass
class _Bucket:
    tokens: float
    updated: float


class AddressLimiter:
    """A token bucket per address."""

    def __init__(
        self,
        per_minute: int = PER_MINUTE,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait_needed(self, address: str) -> float:
        """0 if a request from this address may be served now (and counts it), else how many
        seconds until it may."""
        now = self.clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_idle(now)
            bucket = self._buckets[address] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        for address, bucket in list(self._buckets.items()):
            if now - bucket.updated >= full_after:
                del self._buckets[address]
        if len(self._buckets) >= MAX_TRACKED:  # all busy: forget the longest idle half
            by_age = sorted(self._buckets, key=lambda a: self._buckets[a].updated)
            for address in by_age[: MAX_TRACKED // 2]:
                del self._buckets[address]


def client_address(peer: str | None, headers: Mapping[str, str]) -> str:
    """The address a request comes from. From a reverse proxy on the same host or network (a
    loopback or private peer address: the host, Docker's bridge), the last X-Forwarded-For
    entry, the address the proxy saw; a forwarded header from a public address is ignored, so
    a client on the internet cannot choose its own address."""
    peer = peer or "unknown"
    try:
        address = ipaddress.ip_address(peer)
        proxy = address.is_loopback or address.is_private
    except ValueError:
        proxy = False
    forwarded = headers.get("X-Forwarded-For", "")
    if proxy and forwarded:
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer
