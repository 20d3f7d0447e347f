"""Tests of URL parsing into request targets and of the SSRF address policy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.addresses import AddressPolicy, Target, UrlError, is_public_address, parse_target


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::1", True),
        ("64:ff9b::808:808", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),
        ("2002:7f00:1::", False),
        ("2002:a00:1::", False),
        ("64:ff9b::a00:1", False),
        ("2001:db8::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
    ],
)
def test_address_classifier(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_address_policy_allow_list():
    policy = AddressPolicy(("127.0.0.1/32", "10.0.0.0/8", "fd00::/8", "Mirror.Local"))
    ip = ipaddress.ip_address
    assert policy.permits("x", ip("127.0.0.1")) and not policy.permits("x", ip("127.0.0.2"))
    assert policy.permits("x", ip("::ffff:10.2.3.4"))  # mapped form of an allowed v4
    assert policy.permits("x", ip("fd00::5")) and not policy.permits("x", ip("fe80::1"))
    assert policy.permits("mirror.local.", ip("192.168.0.9"))
    assert not policy.permits("other.local", ip("192.168.0.9"))
    assert policy.permits("any", ip("8.8.8.8"))


# The URL given, then Target's fields: url, scheme, host, port, request_target, host_header.
@pytest.mark.parametrize(
    ("given_url", "fields"),
    [
        (
            "HTTP://Example.COM./a b.jpg?q=1 2",
            (
                "http://example.com/a%20b.jpg?q=1%202",
                "http",
                "example.com",
                80,
                "/a%20b.jpg?q=1%202",
                "example.com",
            ),
        ),
        (
            "https://bücher.example/ä",
            (
                "https://xn--bcher-kva.example/%C3%A4",
                "https",
                "xn--bcher-kva.example",
                443,
                "/%C3%A4",
                "xn--bcher-kva.example",
            ),
        ),
        (
            "https://[::1]:8443/x",
            ("https://[::1]:8443/x", "https", "::1", 8443, "/x", "[::1]:8443"),
        ),
        (
            "https://example.com:443",
            ("https://example.com/", "https", "example.com", 443, "/", "example.com"),
        ),
    ],
)
def test_parse_target_normalises(given_url, fields):
    assert parse_target(given_url) == Target(*fields)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.jpg", "unsupported_scheme"),
        ("//example.com/a.jpg", "bad_url"),
        ("http://user@/x", "bad_url"),
        ("http://[::1/x", "bad_url"),
        ("http://host:99999/x", "bad_url"),
    ],
)
def test_parse_target_refusals(url, reason):
    with pytest.raises(UrlError) as info:
        parse_target(url)
    assert info.value.reason == reason and info.value.detail


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_parse_target_accepts_or_refuses_any_string(text):
    """No string crashes the parser; what it accepts is an http(s) target with a host."""
    try:
        target = parse_target(text)
    except UrlError as err:
        assert err.reason in {"bad_url", "unsupported_scheme"}
        return
    assert target.scheme in {"http", "https"} and target.host
    assert target.request_target.startswith("/") and target.url.startswith(target.scheme)
