"""robots.txt decisions, the TTL cache, page opt-outs and the token bucket (fake clock)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.robots import (
    RobotsCache,
    RobotsRules,
    TokenBucket,
    meta_robots,
    page_opt_out,
    robots_url,
    rules_from_response,
)

ROBOTS = b"""
User-agent: interleaf
Disallow: /nobots/
Crawl-delay: 3

User-agent: *
Disallow: /private/
"""


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rules_follow_the_group_of_our_token():
    rules = rules_from_response(200, ROBOTS)
    assert not rules.allows("http://h/nobots/a", "interleaf")
    assert rules.allows("http://h/private/a", "interleaf")  # our group replaces the * group
    assert not rules.allows("http://h/private/a", "otherbot")
    assert rules.allows("http://h/page", "otherbot")
    assert rules.crawl_delay("interleaf") == 3.0


@pytest.mark.parametrize(
    ("status", "allowed"), [(404, True), (403, True), (500, False), (503, False), (0, False)]
)
def test_status_of_robots_txt_decides_like_rfc_9309(status, allowed):
    assert rules_from_response(status, b"").allows("http://h/x", "interleaf") is allowed


def test_robots_url_keeps_scheme_host_and_port():
    assert robots_url("https://a.example:8443/x/y?q=1") == "https://a.example:8443/robots.txt"


def test_cache_expires_after_ttl():
    clock = FakeClock()
    cache = RobotsCache(ttl_s=60, clock=clock)
    rules = RobotsRules(allow_all=True)
    cache.put("h:80", rules)
    clock.now += 59
    assert cache.get("h:80") is rules
    clock.now += 1
    assert cache.get("h:80") is None
    assert cache.get("other") is None


def test_meta_robots_reads_robots_and_our_token_only():
    html = (
        b'<html><head><META NAME="Robots" content="noindex, follow">'
        b"<meta name='interleaf' content='noai'><meta name=googlebot content=nosnippet>"
        b'<meta property="og:title" content="x"></head></html>'
    )
    assert meta_robots(html, "interleaf") == ["noindex, follow", "noai"]


@pytest.mark.parametrize(
    ("headers", "html", "where"),
    [
        ({"x-robots-tag": "noindex"}, b"", "x-robots-tag"),
        ({"x-robots-tag": "otherbot: noai"}, b"", None),
        ({"x-robots-tag": "interleaf: noimageai"}, b"", "x-robots-tag"),
        ({}, b'<meta name="robots" content="noai">', "meta"),
        ({}, b'<meta name="robots" content="nofollow">', None),
        ({}, b"<p>no meta</p>", None),
    ],
)
def test_page_opt_out(headers, html, where):
    assert page_opt_out(headers, html, "interleaf", ("noindex", "noai", "noimageai")) == where


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_meta_robots_never_crashes(data):
    for value in meta_robots(b"<meta " + data, "interleaf"):
        assert isinstance(value, str)


def test_token_bucket_paces_requests_on_a_fake_clock():
    clock = FakeClock()
    bucket = TokenBucket(4.0, burst=1, clock=clock, sleep=clock.sleep)
    start = clock.now
    stamps = []
    for _ in range(9):
        bucket.acquire()
        stamps.append(clock.now)
    assert stamps[0] == start  # the first request goes at once
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g == pytest.approx(0.25) for g in gaps)


def test_token_bucket_credits_idle_time_but_not_beyond_burst():
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=2, clock=clock, sleep=clock.sleep)
    clock.now += 100  # a long pause earns only `burst` tokens
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_token_bucket_rate_zero_is_unlimited_and_set_rate_slows_down():
    clock = FakeClock()
    assert sum(TokenBucket(0, clock=clock, sleep=clock.sleep).acquire() for _ in range(5)) == 0
    bucket = TokenBucket(10.0, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.set_rate(0.5)
    assert bucket.acquire() == pytest.approx(2.0)
