"""Crawl politeness: robots.txt rules, a per-host cache with TTL, page opt-outs, a rate limiter.

robots.txt follows RFC 9309 (parsed by `urllib.robotparser`): a 4xx robots.txt means
"no rules", a 5xx or unreachable one means "disallow everything" until it can be read.
Page opt-outs are `<meta name="robots">` (or `<meta name="<our token>">`) and the
`X-Robots-Tag` header, with the directives of `curation.fetch.robots_opt_out`.
"""

from __future__ import annotations

import re
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from curation.fetch import robots_opt_out

# A <meta> tag is an attribute soup; a regex over the <head> is enough and never builds a tree.
_META = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_HEAD_BYTES = 256 * 1024  # meta tags belong in <head>; never scan a whole huge body


@dataclass(frozen=True)
class RobotsConfig:
    """How robots.txt and page opt-outs are honoured."""

    ttl_s: float = 24 * 3600.0  # RFC 9309 §2.4: caches SHOULD NOT be used for more than 24 h
    user_agent_token: str = "interleaf"  # the product token robots.txt groups are matched to
    opt_out_directives: tuple[str, ...] = ("noindex", "noai", "noimageai")  # issue 7's list
    max_crawl_delay_s: float = 30.0  # honour Crawl-delay, but a huge one must not stall a worker


class RobotsRules:
    """The parsed rules of one host's robots.txt."""

    def __init__(self, text: str = "", *, allow_all: bool = False, deny_all: bool = False):
        self._parser = urllib.robotparser.RobotFileParser()
        self._parser.parse(text.splitlines())
        self._parser.allow_all = allow_all
        self._parser.disallow_all = deny_all
        self.deny_all = deny_all

    def allows(self, url: str, token: str) -> bool:
        """True when `token` may fetch `url`."""
        return self._parser.can_fetch(token, url)

    def crawl_delay(self, token: str) -> float | None:
        """The Crawl-delay of the group matching `token`, if any."""
        delay = self._parser.crawl_delay(token)
        return float(delay) if delay is not None else None


def rules_from_response(status: int, body: bytes) -> RobotsRules:
    """Rules from a robots.txt fetch outcome (RFC 9309 §2.3.1); status 0 = unreachable."""
    if 200 <= status < 300:
        return RobotsRules(body[: 500 * 1024].decode("utf-8", errors="replace"))  # §2.5: 500 KiB
    if 400 <= status < 500:
        return RobotsRules(allow_all=True)
    return RobotsRules(deny_all=True)


def robots_url(url: str) -> str:
    """The robots.txt URL for the scheme, host and port of `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


class RobotsCache:
    """Rules per host, expiring after a TTL; `clock` is injectable for tests."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._clock = ttl_s, clock
        self._entries: dict[str, tuple[float, RobotsRules]] = {}

    def get(self, host: str) -> RobotsRules | None:
        """The cached rules of `host`, or None when absent or expired."""
        entry = self._entries.get(host)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            self._entries.pop(host, None)
            return None
        return entry[1]

    def put(self, host: str, rules: RobotsRules) -> None:
        self._entries[host] = (self._clock(), rules)


def meta_robots(html: bytes, token: str) -> list[str]:
    """The content of every `<meta name="robots">` or `<meta name="<token>">` tag."""
    values = []
    for tag in _META.findall(html[:_HEAD_BYTES]):
        attrs = {m[0].lower(): (m[1] or m[2] or m[3]) for m in _ATTR.findall(tag)}
        name = attrs.get(b"name", b"").decode("ascii", errors="replace").strip().lower()
        if name in ("robots", token.lower()):
            values.append(attrs.get(b"content", b"").decode("utf-8", errors="replace"))
    return values


def page_opt_out(
    headers: dict[str, str], html: bytes, token: str, directives: tuple[str, ...]
) -> str | None:
    """Where a page opts out of our use ("x-robots-tag" / "meta"), or None when it does not."""
    header = headers.get("x-robots-tag", "")
    if header and robots_opt_out([header], token, directives):
        return "x-robots-tag"
    if robots_opt_out(meta_robots(html, token), token, directives):
        return "meta"
    return None


class TokenBucket:
    """A rate limiter: `acquire()` waits until a request may go; clock and sleep injectable."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._rate, self._burst = rate_per_s, float(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()

    def set_rate(self, rate_per_s: float) -> None:
        """Slow down (or speed up) from now on, e.g. for a robots.txt Crawl-delay."""
        self._refill()
        self._rate = rate_per_s

    def acquire(self) -> float:
        """Take one token, sleeping until there is one; returns the seconds waited."""
        if self._rate <= 0:  # a rate of 0 means "no limit" (benchmarks, local mirrors)
            return 0.0
        self._refill()
        waited = 0.0
        if self._tokens < 1.0:
            waited = (1.0 - self._tokens) / self._rate
            self._sleep(waited)
            self._refill()
        self._tokens = max(self._tokens - 1.0, 0.0)
        return waited

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
