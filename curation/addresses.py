"""Where a fetch may go: http(s) URLs parsed into request targets, and the SSRF address policy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# 64:ff9b::/96 is the NAT64 well-known prefix (RFC 6052): its last 32 bits are an IPv4 address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlError(ValueError):
    """A URL that cannot be requested; `reason` is a counter name, `detail` the offending value."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_public_address(addr: IPAddress) -> bool:
    """True when `addr` is globally routable unicast (not private/loopback/link-local/...)."""
    if isinstance(addr, ipaddress.IPv6Address):
        # An IPv4 address tunnelled inside IPv6 must be judged as that IPv4 address.
        if addr.ipv4_mapped is not None:
            return is_public_address(addr.ipv4_mapped)
        if addr in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        if addr.sixtofour is not None and not is_public_address(addr.sixtofour):
            return False
    flags = (addr.is_private, addr.is_loopback, addr.is_link_local, addr.is_multicast)
    return addr.is_global and not any(flags) and not addr.is_reserved and not addr.is_unspecified


class AddressPolicy:
    """Which (hostname, address) pairs may be connected to: public ones plus an allow-list."""

    def __init__(self, allow: tuple[str, ...] = ()):
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._hosts: set[str] = set()
        for entry in allow:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.strip().lower().rstrip("."))

    def permits(self, host: str, addr: IPAddress) -> bool:
        """True when a connection to `addr` (resolved from `host`) is allowed."""
        if is_public_address(addr) or host.lower().rstrip(".") in self._hosts:
            return True
        mapped = getattr(addr, "ipv4_mapped", None)
        return any(a in net for net in self._networks for a in (addr, mapped) if a is not None)


@dataclass(frozen=True)
class Target:
    """One parsed request URL."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) host, no brackets
    port: int
    request_target: str  # path?query, percent-encoded
    host_header: str


def parse_target(url: str) -> Target:
    """Validate and split an absolute http(s) URL; raises UrlError."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = (parts.hostname or "").rstrip(".")
        ascii_host = host.encode("idna").decode("ascii") if host else ""
    except (ValueError, UnicodeError) as err:
        raise UrlError("bad_url", f"{url!r}: {err}") from err
    if parts.scheme.lower() not in ("http", "https"):
        reason = "unsupported_scheme" if parts.scheme else "bad_url"
        raise UrlError(reason, repr(url[:200]))
    if not ascii_host or any(c in ascii_host for c in " \t\r\n/\\%@"):
        raise UrlError("bad_url", f"no valid host in {url[:200]!r}")
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    host_header = shown if port in (None, default_port) else f"{shown}:{port}"
    return Target(
        url=f"{scheme}://{host_header}{path}" + (f"?{query}" if query else ""),
        scheme=scheme,
        host=ascii_host,
        port=port or default_port,
        request_target=path + (f"?{query}" if query else ""),
        host_header=host_header,
    )
