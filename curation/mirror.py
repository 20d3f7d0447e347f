"""Resources read from a local `wget --mirror` tree instead of over the network."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from curation.fetch import FetchError


def mirror_path(mirror_dir: str, url: str) -> Path:
    """Where `wget --mirror` keeps `url`: <host>[:port]/<path>, index.html, `?query` suffix."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as err:
        raise FetchError("bad_url", f"{url!r}: {err}") from err
    if not host.strip(".") or any(c in host for c in "/\\\0"):
        raise FetchError("bad_url", f"no usable host in {url!r}")
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    segments: list[str] = []
    for raw in unquote(parts.path).split("/"):
        if raw == "..":  # resolved like a browser would, and never above the host folder
            if segments:
                segments.pop()
        elif raw not in ("", "."):
            segments.append(_safe_name(raw))
    if not segments or parts.path.endswith("/"):
        segments.append("index.html")
    if parts.query:
        # wget (unix mode) keeps "?" and escapes "/" so the query stays in the file name.
        segments[-1] += "?" + _safe_name(unquote(parts.query))
    return Path(mirror_dir, host, *segments)


def _safe_name(name: str) -> str:
    """Escape what cannot live in one POSIX file name component (as wget does)."""
    return "".join(
        f"%{ord(c):02X}" if c == "/" or ord(c) < 32 or ord(c) == 127 else c for c in name
    )


def read_from_mirror(mirror_dir: str, url: str) -> bytes | None:
    """The mirrored bytes of `url`, or None when the mirror does not hold it."""
    try:
        path = mirror_path(mirror_dir, url)
        return path.read_bytes() if path.is_file() else None
    except (FetchError, OSError):
        return None  # a URL the mirror cannot hold (bad host, name too long) is simply absent
