"""Tests of the hardened HTTP client against a local server on 127.0.0.1."""

from __future__ import annotations

import gzip
import random
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.fetch import FetchConfig, FetchError, HttpFetcher, retry_delay, robots_opt_out
from tests.fixtures import images as img_fx
from tests.fixtures.http_server import LocalHttpServer, Reply, closed_port, redirect

LOCAL = FetchConfig(
    allow_networks=("127.0.0.1/32",),
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    total_timeout_s=5.0,
    backoff_s=0.01,
)
JPEG = img_fx.jpeg_bytes(200, 160)
PNG = img_fx.png_bytes(200, 160)


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as srv:
        yield srv


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(LOCAL) as f:
        yield f


def _reason(fetcher: HttpFetcher, url: str, expect: str | None = None) -> str:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, expect=expect)
    return info.value.reason


def _fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Resolve the names in `table` to its addresses; returns the log of names looked up."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        looked_up.append(host)
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in table[host]
            ]
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def test_fetch_success_sends_identity_and_sniffs(server, fetcher):
    server.route("/a.jpg", Reply(body=JPEG, headers={"Content-Type": "image/jpeg"}))
    result = fetcher.fetch(server.url("/a.jpg"), expect="image")
    assert result.data == JPEG
    assert result.content_type == "image/jpeg"
    assert result.final_url == server.url("/a.jpg")
    assert result.headers["content-type"] == "image/jpeg"
    seen = server.requests_for("/a.jpg")[0]
    assert "interleaf" in seen.headers["user-agent"]
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"


def test_private_address_refused_without_allow_list(server):
    server.route("/a.jpg", Reply(body=JPEG))
    with HttpFetcher(FetchConfig()) as strict:
        assert _reason(strict, server.url("/a.jpg")) == "blocked_address"
    assert server.hits("/a.jpg") == 0  # refused before connecting


def test_redirects_followed_up_to_the_cap(server, fetcher):
    for i in range(6):
        server.route(f"/r{i}", redirect(f"/r{i + 1}"))
    server.route("/r6", Reply(body=PNG))
    server.route("/r1x", redirect("/r2"))
    # r1x -> r2 -> ... -> r6 is 5 redirects: allowed; r0 -> ... -> r6 is 6: refused.
    assert fetcher.fetch(server.url("/r1x")).final_url == server.url("/r6")
    assert _reason(fetcher, server.url("/r0")) == "too_many_redirects"
    server.route("/loop", redirect("/loop", status=301))
    assert _reason(fetcher, server.url("/loop")) == "too_many_redirects"


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://[::ffff:10.1.2.3]/x",
        "http://0.0.0.0/x",
    ],
)
def test_redirect_to_private_address_refused(server, fetcher, location):
    server.route("/hop", redirect(location))
    assert _reason(fetcher, server.url("/hop")) == "blocked_address"


def test_redirect_to_other_scheme_refused(server, fetcher):
    server.route("/hop", redirect("file:///etc/passwd"))
    assert _reason(fetcher, server.url("/hop")) == "unsupported_scheme"


def test_slow_trickle_hits_the_total_deadline(server):
    server.route("/slow", Reply(body_size=10_000, chunk_size=1, chunk_delay_s=0.05))
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, read_timeout_s=5, total_timeout_s=0.5)
    with HttpFetcher(cfg) as f, pytest.raises(FetchError) as info:
        f.fetch(server.url("/slow"))
    assert info.value.reason == "read_timeout"
    assert "total deadline" in info.value.detail


def test_header_trickle_hits_the_total_deadline(server):
    server.route("/slow", Reply(body=JPEG, filler_headers=1000, header_delay_s=0.02))
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, read_timeout_s=5, total_timeout_s=0.5)
    with HttpFetcher(cfg) as f, pytest.raises(FetchError) as info:
        f.fetch(server.url("/slow"))
    assert info.value.reason == "read_timeout"
    assert "total deadline" in info.value.detail


def test_silent_server_hits_the_read_timeout(server):
    server.route("/silent", Reply(body=JPEG, delay_s=3))
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, read_timeout_s=0.3, retries=0)
    with HttpFetcher(cfg) as f:
        assert _reason(f, server.url("/silent")) == "read_timeout"


def test_declared_huge_body_refused_without_reading(server, fetcher):
    server.route("/big", Reply(body=b"x", content_length=LOCAL.max_bytes + 1))
    assert _reason(fetcher, server.url("/big")) == "too_large"


@pytest.mark.parametrize("framing", [{"content_length": False}, {"chunked": True}])
def test_streamed_huge_body_capped_and_abandoned(server, framing):
    body_size = 200 * 1024 * 1024
    server.route("/big", Reply(body=JPEG, body_size=body_size, **framing))
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, max_bytes=256 * 1024)
    with HttpFetcher(cfg) as f:
        assert _reason(f, server.url("/big")) == "too_large"
    (sent,) = server.sent(1)
    assert not sent.completed and sent.body_bytes < body_size // 4  # we stopped reading


def test_short_body_is_a_connection_error(server, fetcher):
    server.route("/cut", Reply(body=JPEG[:100], content_length=len(JPEG), close=True))
    assert _reason(fetcher, server.url("/cut")) == "connection_error"


def test_not_found_is_http_status_without_retry(server, fetcher):
    server.route("/gone", Reply(status=404))
    with pytest.raises(FetchError) as info:
        fetcher.fetch(server.url("/gone"))
    assert info.value.reason == "http_status" and "404" in info.value.detail
    assert server.hits("/gone") == 1


def test_503_then_200_succeeds_after_retry(server, fetcher):
    server.route("/flaky", Reply(status=503), Reply(body=JPEG))
    assert fetcher.fetch(server.url("/flaky")).data == JPEG
    assert server.hits("/flaky") == 2


def test_429_with_retry_after_then_200(server, fetcher):
    server.route("/busy", Reply(status=429, headers={"Retry-After": "0"}), Reply(body=PNG))
    assert fetcher.fetch(server.url("/busy")).data == PNG
    assert server.hits("/busy") == 2


def test_persistent_5xx_gives_up_after_the_retries(server, fetcher):
    server.route("/down", Reply(status=502))
    with pytest.raises(FetchError) as info:
        fetcher.fetch(server.url("/down"))
    assert info.value.reason == "http_status" and "502" in info.value.detail
    assert server.hits("/down") == LOCAL.retries + 1


def test_connection_refused_is_a_connection_error(fetcher):
    assert _reason(fetcher, f"http://127.0.0.1:{closed_port()}/x") == "connection_error"


@pytest.mark.parametrize("value", ["noai", "NoImageAI", "noindex, noai", "interleaf: noai"])
def test_x_robots_tag_opt_out(server, fetcher, value):
    server.route("/a.jpg", Reply(body=JPEG, headers={"X-Robots-Tag": value}))
    assert _reason(fetcher, server.url("/a.jpg")) == "opt_out"


def test_opt_out_ignored_when_scoped_to_another_bot_or_disabled(server, fetcher):
    server.route("/a.jpg", Reply(body=JPEG, headers={"X-Robots-Tag": "otherbot: noai"}))
    assert fetcher.fetch(server.url("/a.jpg")).data == JPEG
    server.route("/b.jpg", Reply(body=JPEG, headers={"X-Robots-Tag": "noai"}))
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, honour_opt_out=False)
    with HttpFetcher(cfg) as f:
        assert f.fetch(server.url("/b.jpg")).data == JPEG


def test_sniffed_type_wins_over_a_lying_content_type(server, fetcher):
    server.route("/p", Reply(body=PNG, headers={"Content-Type": "text/html"}))
    assert fetcher.fetch(server.url("/p"), expect="image").content_type == "image/png"
    page = img_fx.html_bytes()
    server.route("/fake.jpg", Reply(body=page, headers={"Content-Type": "image/jpeg"}))
    assert _reason(fetcher, server.url("/fake.jpg"), expect="image") == "not_an_image"
    assert fetcher.fetch(server.url("/fake.jpg")).content_type == "text/html"


def test_gzip_transfer_coding_is_undone(server, fetcher):
    server.route("/z", Reply(body=gzip.compress(PNG), headers={"Content-Encoding": "gzip"}))
    assert fetcher.fetch(server.url("/z")).data == PNG


def test_keep_alive_connection_is_reused(server, fetcher):
    server.route("/a", Reply(body=JPEG))
    server.route("/b", Reply(body=PNG))
    fetcher.fetch(server.url("/a"))
    fetcher.fetch(server.url("/b"))
    ports = [r.client_port for r in server.requests]
    assert ports[0] == ports[1]


def test_idle_pool_is_bounded(fetcher):
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, max_idle_connections=1)
    with LocalHttpServer() as a, LocalHttpServer() as b, HttpFetcher(cfg) as f:
        a.route("/x", Reply(body=JPEG))
        b.route("/x", Reply(body=JPEG))
        f.fetch(a.url("/x"))
        f.fetch(b.url("/x"))  # evicts the idle connection to `a`
        f.fetch(a.url("/x"))
        first, again = (r.client_port for r in a.requests)
        assert first != again


def test_unknown_bytes_fall_back_to_the_declared_type(server, fetcher):
    server.route("/x", Reply(body=b"\x00\x01 opaque", headers={"Content-Type": "image/x-new"}))
    assert fetcher.fetch(server.url("/x"), expect="image").content_type == "image/x-new"
    server.route("/y", Reply(body=b"\x00\x01 opaque"))
    assert _reason(fetcher, server.url("/y"), expect="image") == "not_an_image"


def test_connection_dropped_while_idle_is_replaced(server, fetcher):
    server.route("/a", Reply(body=JPEG, drop_after=True))
    server.route("/b", Reply(body=PNG))
    fetcher.fetch(server.url("/a"))
    server.sent(1)  # the server has closed the pooled socket by now
    assert fetcher.fetch(server.url("/b")).data == PNG
    assert server.hits("/b") == 1


def test_connects_to_the_checked_address_with_the_real_host_header(server, monkeypatch):
    looked_up = _fake_dns(monkeypatch, {"images.example": ["10.9.9.9", "127.0.0.1"]})
    server.route("/a.jpg", Reply(body=JPEG))
    with HttpFetcher(LOCAL) as f:
        assert f.fetch(server.url("/a.jpg", host="images.example")).data == JPEG
    assert server.requests[0].headers["host"] == f"images.example:{server.port}"
    # Resolved once; the connection went to the checked literal address, never re-resolving.
    assert looked_up.count("images.example") == 1
    assert set(looked_up) - {"images.example"} == {"127.0.0.1"}


def test_allow_list_by_hostname(server, monkeypatch):
    _fake_dns(monkeypatch, {"cdn.internal": ["127.0.0.1"]})
    server.route("/a.jpg", Reply(body=JPEG))
    with HttpFetcher(FetchConfig(allow_networks=("cdn.internal",))) as f:
        assert f.fetch(server.url("/a.jpg", host="cdn.internal")).data == JPEG
        assert _reason(f, server.url("/a.jpg")) == "blocked_address"


def test_dns_rebinding_to_private_is_refused(monkeypatch, fetcher):
    _fake_dns(monkeypatch, {"rebind.example": ["10.0.0.7"]})
    assert _reason(fetcher, "http://rebind.example/a.jpg") == "blocked_address"


def test_dns_failure(monkeypatch, fetcher):
    _fake_dns(monkeypatch, {})
    assert _reason(fetcher, "http://no-such-host.invalid/a.jpg") == "dns_failure"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "bad_url"),
        ("not a url", "bad_url"),
        ("http://", "bad_url"),
        ("http://host:99999/x", "bad_url"),
        ("http://exa mple.com/x", "bad_url"),
        ("ftp://example.com/a.jpg", "unsupported_scheme"),
        ("data:image/png;base64,iVBORw0KGgo=", "unsupported_scheme"),
        ("javascript:alert(1)", "unsupported_scheme"),
    ],
)
def test_bad_urls(fetcher, url, reason):
    assert _reason(fetcher, url) == reason


_NO_RETRY = HttpFetcher(FetchConfig(retries=0))  # built once: a TLS context costs ~50 ms
_URLISH = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, host, rest: f"{scheme}://{host}{rest}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "file", ""]),
        st.text(max_size=30),
        st.text(max_size=30),
    ),
)


@settings(max_examples=100, deadline=None)
@given(_URLISH)
def test_any_string_ends_as_a_fetch_error(url):
    """No URL crashes the client; DNS is stubbed to fail so nothing leaves the machine."""

    def no_dns(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise socket.gaierror(socket.EAI_NONAME, "stubbed")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", no_dns)
        with pytest.raises(FetchError) as info:
            _NO_RETRY.fetch(url)
    assert info.value.reason in {"bad_url", "unsupported_scheme", "dns_failure"}


def test_https_pins_the_address_but_names_the_host(tmp_path, monkeypatch):
    from tests.fixtures.http_server import make_tls_files

    tls = make_tls_files(tmp_path, ("localhost",))
    _fake_dns(monkeypatch, {"localhost": ["127.0.0.1"]})
    cfg = FetchConfig(allow_networks=LOCAL.allow_networks, ca_file=tls.ca_file, retries=0)
    with LocalHttpServer(tls=tls.server_context()) as srv, HttpFetcher(cfg) as f:
        srv.route("/a.png", Reply(body=PNG))
        assert f.fetch(srv.url("/a.png", host="localhost")).data == PNG
        assert srv.sni_names == ["localhost"]
        # The certificate names localhost, not 127.0.0.1: checked against the URL's host.
        with pytest.raises(FetchError) as info:
            f.fetch(srv.url("/a.png"))
        assert info.value.reason == "connection_error" and "TLS" in info.value.detail


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["noai"], True),
        (["NOIMAGEAI"], True),
        (["noindex, nofollow"], False),
        (["noindex", "noai"], True),
        (["googlebot: noai"], False),
        (["interleaf: noimageai"], True),
        (["Interleaf: noindex, noai"], True),
        (["otherbot: noindex, noai"], False),
        (["googlebot: noindex, interleaf: noai"], True),
        (["*: noai"], True),
        (["unavailable_after: 2020-01-01, noai"], True),
        (["notnoai"], False),
        ([], False),
    ],
)
def test_robots_opt_out_parsing(values, expected):
    assert robots_opt_out(values, "interleaf", ("noai", "noimageai")) is expected


def test_retry_delay_backoff_jitter_and_retry_after():
    rng = random.Random(0)
    for attempt in range(4):
        d = retry_delay(attempt, 0.5, None, 100.0, rng)
        assert 0.25 * 2**attempt <= d <= 0.75 * 2**attempt
    assert retry_delay(0, 0.5, "7", 100.0, rng) == 7.0
    assert retry_delay(0, 0.5, "3600", 10.0, rng) == 10.0  # capped
    assert retry_delay(0, 0.5, "Wed, 21 Oct 2015 07:28:00 GMT", 10.0, rng) <= 0.75  # in the past
    assert retry_delay(0, 0.5, "soon", 10.0, rng) <= 0.75  # unparseable: plain backoff
    assert retry_delay(9, 0.5, None, 10.0, rng) == 10.0
