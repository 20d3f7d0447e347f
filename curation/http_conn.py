"""Connections under `HttpFetcher`: pinned HTTPS, deadline watchdog, idle pool, retry timing."""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Collection

PoolKey = tuple[str, str, int, str]  # scheme, address, port, hostname


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked IP address, with SNI and certificate check against the real hostname."""

    def __init__(self, ip: str, port: int, server_hostname: str, ctx: ssl.SSLContext, **kw):
        super().__init__(ip, port, context=ctx, **kw)
        self._sni = server_hostname
        self._tls = ctx

    def connect(self) -> None:
        """TCP to the pinned address, then TLS naming the hostname (SNI + cert check)."""
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._sni)


class Watchdog:
    """Shuts a connection's socket down at the wall deadline, so nothing can trickle past it."""

    def __init__(self, sock: socket.socket, seconds: float):
        self._sock, self._lock, self._done, self.fired = sock, threading.Lock(), False, False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            # OSError: the fetching thread closed it first; nothing is left to interrupt.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Disarm the timer; after this the socket is never shut by us."""
        with self._lock:
            self._done = True
            self._timer.cancel()


class StaleConnection(Exception):
    """A reused keep-alive connection that the server had already closed."""


class IdlePool:
    """Keep-alive connections waiting for reuse, the oldest closed beyond `max_idle`."""

    def __init__(self, max_idle: int):
        self._max_idle = max_idle
        self._idle: list[tuple[PoolKey, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()

    def take(self, keys: Collection[PoolKey]) -> tuple[PoolKey, http.client.HTTPConnection] | None:
        """An idle connection under one of `keys`, most recent first."""
        with self._lock:
            for i in range(len(self._idle) - 1, -1, -1):
                key, conn = self._idle[i]
                if key in keys:
                    del self._idle[i]
                    if conn.sock is not None:
                        return key, conn
        return None

    def put(self, key: PoolKey, conn: http.client.HTTPConnection) -> None:
        """Keep a reusable connection, closing the oldest beyond the idle budget."""
        with self._lock:
            self._idle.append((key, conn))
            evicted = self._idle[: -self._max_idle or None]
            del self._idle[: len(evicted)]
        for _key, old in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _key, conn in idle:
            conn.close()


def retry_delay(
    attempt: int, backoff_s: float, retry_after: str | None, cap_s: float, rng: random.Random
) -> float:
    """Seconds to wait before retry number `attempt + 1`: jittered exponential, or Retry-After."""
    delay = backoff_s * (2**attempt) * rng.uniform(0.5, 1.5)
    wait = _retry_after_seconds(retry_after) if retry_after else None
    if wait is not None:
        delay = max(delay, min(wait, cap_s))
    return min(delay, cap_s)


def _retry_after_seconds(value: str) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date; None when unparseable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time() if when.tzinfo else None
