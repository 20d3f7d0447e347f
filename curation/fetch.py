"""Hardened HTTP(S) fetching of images (later pages, videos): SSRF, size, time, opt-out guards."""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin

from curation.addresses import AddressPolicy, IPAddress, Target, UrlError, parse_target
from curation.http_conn import (
    IdlePool,
    PinnedHTTPSConnection,
    PoolKey,
    StaleConnection,
    Watchdog,
    retry_delay,
)
from curation.sniff import sniff_content_type

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Directives that carry a value after a colon, so "name: x" is not a user-agent scope for them.
_VALUED_ROBOTS_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)


@dataclass(frozen=True)
class FetchConfig:
    """Limits and identity of the HTTP client; one per worker."""

    connect_timeout_s: float = 5.0  # half img2dataset's whole-request timeout; connects are quick
    read_timeout_s: float = 10.0  # img2dataset's default timeout
    total_timeout_s: float = 30.0  # wall deadline per URL: a server trickling bytes cannot pin us
    max_bytes: int = 20 * 1024 * 1024  # 20 MiB: far above any web photo we keep (1024 px side)
    max_redirects: int = 5  # browsers allow ~20; image CDNs need at most 2-3 hops
    retries: int = 2  # img2dataset default retries=0; 2 rides out transient 5xx/429
    backoff_s: float = 0.5  # first retry delay, doubled each time, with +-50 % jitter
    retry_after_cap_s: float = 10.0  # never wait longer than this on a Retry-After header
    user_agent: str = "interleaf/0.1 (Flamingo-style research dataset builder; honours noai)"
    user_agent_token: str = "interleaf"  # the name X-Robots-Tag directives may be scoped to
    allow_networks: tuple[str, ...] = ()  # CIDRs or hostnames exempt from the private-address ban
    honour_opt_out: bool = True  # X-Robots-Tag noai/noimageai, as img2dataset does
    opt_out_directives: tuple[str, ...] = ("noai", "noimageai")  # img2dataset's default set
    accept: str = "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8,*/*;q=0.5"
    ca_file: str | None = None  # extra trust anchors (tests, private CAs); None = system store
    max_idle_connections: int = 32  # keep-alive sockets kept open across all hosts (fd budget)


class FetchError(Exception):
    """A fetch that failed; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str = "", *, retryable: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.retry_after: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """Bytes of a fetched resource and what we learnt about them."""

    data: bytes
    content_type: str  # sniffed from the bytes when possible, else the header's media type
    final_url: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


def _target(url: str) -> Target:
    """`parse_target`, its refusal raised as the FetchError that every fetch failure is."""
    try:
        return parse_target(url)
    except UrlError as err:
        raise FetchError(err.reason, err.detail) from err


def robots_opt_out(values: list[str], token: str, directives: tuple[str, ...]) -> bool:
    """True when any X-Robots-Tag value forbids AI use for us (unscoped or scoped to `token`)."""
    wanted = {d.lower() for d in directives}
    for value in values:
        scope: str | None = None
        for item in value.split(","):
            name, sep, directive = item.partition(":")
            if sep and name.strip().lower() not in _VALUED_ROBOTS_DIRECTIVES:
                scope = name.strip().lower()  # "bot: dir, dir" scopes the rest of the list
            else:
                directive = item
            applies = scope in (None, "*", token.lower())
            if applies and directive.strip().lower() in wanted:
                return True
    return False


@dataclass(frozen=True)
class _Redirect:
    location: str


class HttpFetcher:
    """Fetches URLs under FetchConfig's limits, keeping a keep-alive pool; build once per worker."""

    def __init__(self, cfg: FetchConfig | None = None):
        self.cfg = cfg or FetchConfig()
        self._policy = AddressPolicy(self.cfg.allow_networks)
        self._tls = ssl.create_default_context()
        if self.cfg.ca_file:
            self._tls.load_verify_locations(self.cfg.ca_file)
        self._pool = IdlePool(self.cfg.max_idle_connections)
        self._rng = random.Random()

    def fetch(self, url: str, expect: str | None = None) -> FetchResult:
        """GET `url`, following checked redirects; `expect="image"` refuses non-image bytes."""
        deadline = time.monotonic() + self.cfg.total_timeout_s
        target = _target(url)
        for _hop in range(self.cfg.max_redirects + 1):
            outcome = self._fetch_with_retries(target, deadline)
            if isinstance(outcome, FetchResult):
                return _check_expected(outcome, expect)
            # Every hop goes through parse_target and the address policy again.
            target = _target(urljoin(target.url, outcome.location))
        raise FetchError("too_many_redirects", f"more than {self.cfg.max_redirects} from {url}")

    def close(self) -> None:
        """Close every idle pooled connection."""
        self._pool.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch_with_retries(self, target: Target, deadline: float) -> FetchResult | _Redirect:
        """One hop, retried on connect errors, timeouts, 429 and 5xx while time is left."""
        for attempt in range(self.cfg.retries + 1):
            try:
                return self._attempt(target, deadline)
            except FetchError as err:
                if not err.retryable or attempt == self.cfg.retries:
                    raise
                delay = retry_delay(
                    attempt,
                    self.cfg.backoff_s,
                    err.retry_after,
                    self.cfg.retry_after_cap_s,
                    self._rng,
                )
                if time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, target: Target, deadline: float) -> FetchResult | _Redirect:
        """Resolve, check, connect (or reuse) and exchange one request."""
        addresses = self._resolve(target)
        reused = self._pool.take({(target.scheme, a, target.port, target.host) for a in addresses})
        if reused is not None:
            try:
                return self._exchange(reused[0], reused[1], target, deadline, reused=True)
            except StaleConnection:
                pass  # the server dropped an idle keep-alive socket; a fresh one is not a retry
        key, conn = self._connect(target, addresses, deadline)
        return self._exchange(key, conn, target, deadline, reused=False)

    def _resolve(self, target: Target) -> list[str]:
        """The permitted addresses of the host; we connect only to these (no DNS rebinding)."""
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as err:
            raise FetchError("dns_failure", f"{target.host}: {err}") from err
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [a for a in found if self._policy.permits(target.host, _ip(a.split("%", 1)[0]))]
        if not allowed:
            raise FetchError("blocked_address", f"{target.host} -> {', '.join(found)}")
        return allowed

    def _connect(
        self, target: Target, addresses: list[str], deadline: float
    ) -> tuple[PoolKey, http.client.HTTPConnection]:
        """A new connection to the first reachable permitted address."""
        timeout = max(min(self.cfg.connect_timeout_s, deadline - time.monotonic()), 0.001)
        error = FetchError("connection_error", f"no address for {target.host}")
        for address in addresses:
            conn: http.client.HTTPConnection
            if target.scheme == "https":
                conn = PinnedHTTPSConnection(
                    address, target.port, target.host, self._tls, timeout=timeout
                )
            else:
                conn = http.client.HTTPConnection(address, target.port, timeout=timeout)
            try:
                conn.connect()
                return (target.scheme, address, target.port, target.host), conn
            except ssl.SSLCertVerificationError as err:
                conn.close()
                raise FetchError("connection_error", f"TLS {target.host}: {err}") from err
            except TimeoutError as err:
                error = FetchError("connect_timeout", f"{address}: {err}", retryable=True)
            except OSError as err:
                error = FetchError("connection_error", f"{address}: {err}", retryable=True)
            conn.close()
        raise error

    def _exchange(
        self,
        key: PoolKey,
        conn: http.client.HTTPConnection,
        target: Target,
        deadline: float,
        reused: bool,
    ) -> FetchResult | _Redirect:
        """Send the GET and read the answer; map socket and protocol errors to reasons."""
        # http.client hands the socket to a response that will close, so hold our own reference.
        sock = conn.sock
        if sock is None:
            raise StaleConnection("pooled connection has no socket")
        dog = Watchdog(sock, deadline - time.monotonic())
        keep = False
        resp: http.client.HTTPResponse | None = None
        try:
            self._set_read_timeout(sock, deadline)
            headers = {"Host": target.host_header, "User-Agent": self.cfg.user_agent}
            try:
                conn.request(
                    "GET", target.request_target, headers={**headers, "Accept": self.cfg.accept}
                )
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                if reused and not dog.fired:
                    raise StaleConnection(str(err)) from err
                raise
            outcome, keep = self._read_response(sock, resp, target, deadline)
            if dog.fired:  # the socket was shut under us: what we read is cut short
                raise TimeoutError("total deadline passed")
            return outcome
        except TimeoutError as err:
            keep = False
            raise FetchError("read_timeout", self._timeout_detail(target, deadline)) from err
        except (OSError, http.client.HTTPException) as err:
            keep = False
            if dog.fired:
                raise FetchError("read_timeout", self._timeout_detail(target, deadline)) from err
            raise FetchError("connection_error", f"{target.url}: {err!r}", retryable=True) from err
        finally:
            dog.stop()
            if keep and not dog.fired:
                self._pool.put(key, conn)
            else:
                if resp is not None:
                    resp.close()  # it may own the socket's file object
                conn.close()
                sock.close()

    def _read_response(
        self,
        sock: socket.socket,
        resp: http.client.HTTPResponse,
        target: Target,
        deadline: float,
    ) -> tuple[FetchResult | _Redirect, bool]:
        """Turn a response into a result, a redirect or a FetchError; also says if reusable."""
        status = resp.status
        if status in _REDIRECTS:
            location = resp.getheader("Location")
            if not location:
                raise FetchError("http_status", f"{status} without Location at {target.url}")
            return _Redirect(location.strip()), False
        if status == 429 or status >= 500:
            err = FetchError("http_status", f"{status} {target.url}", retryable=True)
            err.retry_after = resp.getheader("Retry-After")
            raise err
        if not 200 <= status < 300:
            raise FetchError("http_status", f"{status} {target.url}")
        robots = resp.headers.get_all("X-Robots-Tag") or []
        if self.cfg.honour_opt_out and robots_opt_out(
            robots, self.cfg.user_agent_token, self.cfg.opt_out_directives
        ):
            raise FetchError("opt_out", f"X-Robots-Tag {'; '.join(robots)!r} at {target.url}")
        declared = _content_length(resp)
        if declared is not None and declared > self.cfg.max_bytes:
            raise FetchError("too_large", f"Content-Length {declared} > {self.cfg.max_bytes}")
        data = self._read_body(sock, resp, deadline, declared)
        headers = {k.lower(): ", ".join(resp.headers.get_all(k) or []) for k in resp.headers}
        data = _decode_body(data, headers.get("content-encoding", ""), self.cfg.max_bytes)
        sniffed = sniff_content_type(data)
        declared_type = headers.get("content-type", "").split(";")[0].strip().lower()
        ctype = sniffed or declared_type or "application/octet-stream"
        return FetchResult(data, ctype, target.url, headers), not resp.will_close

    def _read_body(
        self,
        sock: socket.socket,
        resp: http.client.HTTPResponse,
        deadline: float,
        declared: int | None,
    ) -> bytes:
        """Stream the body under the byte cap, re-arming the socket timeout against the deadline."""
        chunks: list[bytes] = []
        total = 0
        while True:
            self._set_read_timeout(sock, deadline)
            piece = resp.read1(_CHUNK)
            if not piece:
                break
            total += len(piece)
            if total > self.cfg.max_bytes:
                raise FetchError("too_large", f"body exceeds {self.cfg.max_bytes} bytes")
            chunks.append(piece)
        if declared is not None and total < declared:
            raise http.client.IncompleteRead(b"", declared - total)
        resp.close()  # frees the connection for the next request; the socket stays open
        return b"".join(chunks)

    def _set_read_timeout(self, sock: socket.socket, deadline: float) -> None:
        """Per-read timeout: the read timeout, shortened to what is left of the wall deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("total deadline passed")
        sock.settimeout(min(self.cfg.read_timeout_s, remaining))

    def _timeout_detail(self, target: Target, deadline: float) -> str:
        if time.monotonic() >= deadline - 0.05:
            return f"total deadline of {self.cfg.total_timeout_s}s passed at {target.url}"
        return f"no data for {self.cfg.read_timeout_s}s at {target.url}"


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def _content_length(resp: http.client.HTTPResponse) -> int | None:
    value = resp.getheader("Content-Length")
    try:
        return int(value) if value is not None and not resp.chunked else None
    except ValueError as err:
        raise FetchError("connection_error", f"bad Content-Length {value!r}") from err


def _decode_body(data: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo gzip transfer coding (we ask for identity, some servers send it anyway), capped."""
    if encoding.strip().lower() not in ("gzip", "x-gzip"):
        return data
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, max_bytes + 1)
    except zlib.error as err:
        raise FetchError("connection_error", f"bad gzip body: {err}") from err
    if len(out) > max_bytes:
        raise FetchError("too_large", f"gzip body inflates beyond {max_bytes} bytes")
    return out


def _check_expected(result: FetchResult, expect: str | None) -> FetchResult:
    """Refuse bytes whose sniffed/declared type is not of the expected top-level kind."""
    if expect is None or result.content_type.startswith(f"{expect}/"):
        return result
    reason = "not_an_image" if expect == "image" else "unexpected_content_type"
    raise FetchError(reason, f"{result.content_type} at {result.final_url}")
