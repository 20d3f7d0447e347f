"""Damage-tolerant decompressed view of a WARC/ARC file: plain bytes or successive gzip members.

A position is `(member, inner)`: the byte offset in the file where the current gzip member
starts and the number of decompressed bytes read since then. An uncompressed file is one
"member" at offset 0, so `inner` is the file offset. Reads run on across gzip members (a record
may be split over members, as some writers do); a member that cannot be decompressed raises
`StreamDamage`, after which `recover()` moves to the next member that decompresses to a record.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import BinaryIO

Position = tuple[int, int]

_CHUNK = 1 << 16  # raw bytes read per call
_MAX_OUT = 1 << 20  # decompressed bytes per zlib call: bounds memory on a gzip bomb
_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate (RFC 1952 §2.3)
_GZIP_FLAG_RESERVED = 0xE0  # FLG bits 5-7 must be zero in a real member header
_PROBE_RAW_BYTES = 1 << 16  # how far a candidate member is decompressed to validate it
_PROBE_OUT_BYTES = 1024  # enough for a WARC version line or an ARC header line
_BLANK = b" \t\r\n\x00"
_MAX_KEPT = 16 * 2**20  # bytes of a record kept after its mark for a cheap seek back


class StreamDamage(Exception):
    """The bytes at the current position cannot be read (corrupt or cut-off gzip member)."""

    def __init__(self, reason: str, detail: str, member: int) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.member = member


class WarcByteStream:
    """Buffered reader of the decompressed bytes of a (maybe gzipped, maybe damaged) file."""

    def __init__(self, raw: BinaryIO, looks_like_record: Callable[[bytes], bool]) -> None:
        self._raw = raw
        self._looks_like_record = looks_like_record
        self._buf = bytearray()  # decompressed bytes of the current member
        self._off = 0  # read offset in _buf; bytes before it are kept only from the mark on
        self._mark: int | None = None  # _buf index from which read bytes are kept for seek()
        self._mark_inner = 0
        self._member = 0
        self._inner = 0
        self._dec: zlib._Decompress | None = None
        self._tail = b""  # input zlib did not take yet (max_length reached)
        self._done = True  # the current member is fully decompressed and verified
        self._next: int | None = 0  # file offset right after the current member; None at EOF
        self.skipped: list[tuple[int, int]] = []  # (offset, length) of junk between members
        raw.seek(0)
        head = raw.read(_PROBE_OUT_BYTES)
        raw.seek(0)
        self.gzipped = head.startswith(_GZIP_MAGIC) or (
            bool(head.strip(_BLANK))
            and not looks_like_record(head.lstrip(_BLANK))
            and self._find_member(0) is not None
        )
        raw.seek(0)
        if not self.gzipped:
            self._done = False

    def tell(self) -> Position:
        """Where the next byte read comes from."""
        return (self._member, self._inner)

    def mark(self) -> None:
        """Keep the bytes read from here on (up to a cap) so that `seek` back into them is cheap."""
        self._compact()
        self._mark, self._mark_inner = self._off, self._inner

    def seek(self, pos: Position) -> None:
        """Go to a position returned by `tell()`: within the marked bytes, else decompress again."""
        member, inner = pos
        if (
            self._mark is not None
            and member == self._member
            and self._mark_inner <= inner <= self._inner + self._avail()
        ):
            self._off, self._inner = self._mark + inner - self._mark_inner, inner
            return
        self._reset_buffer()
        if self.gzipped:
            self._start_member(member)
            self.skip(inner)
        else:
            self._raw.seek(inner)
            self._inner = inner

    def recover(self, damage: StreamDamage) -> bool:
        """Continue at the first valid gzip member after a damaged one; False at EOF."""
        # Even "file ends inside the member" is searched past: a corrupt header field (FEXTRA,
        # FNAME) makes zlib run on through the members that follow to the end of the file.
        self._reset_buffer()
        found = self._find_member(damage.member + 1)
        if found is None:
            self._done, self._next, self._tail = True, None, b""
            return False
        self._start_member(found)
        return True

    def peek(self, n: int, cross: bool = True) -> bytes:
        """Up to n bytes without consuming them; crosses into the next member only if needed."""
        if cross:
            self._ensure_data()
        self._fill(n)
        return bytes(self._buf[self._off : self._off + n])

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or fewer at the end of the file."""
        out = bytearray()
        while len(out) < n and self._ensure_data():
            self._fill(n - len(out))
            take = self._buf[self._off : self._off + n - len(out)]
            out += take
            self._consume(len(take))
        return bytes(out)

    def skip(self, n: int) -> int:
        """Discard up to n bytes; returns how many were skipped."""
        left = n
        while left > 0 and self._ensure_data():
            k = min(left, self._avail())
            self._consume(k)
            left -= k
        return n - left

    def readline(self, limit: int) -> bytes:
        """One line with its newline, cut at `limit` bytes."""
        out = bytearray()
        while len(out) < limit and self._ensure_data():
            i = self._buf.find(b"\n", self._off, self._off + limit - len(out))
            end = i + 1 if i >= 0 else self._off + limit - len(out)
            take = self._buf[self._off : end]
            out += take
            self._consume(len(take))
            if i >= 0:
                break
        return bytes(out)

    def at_member_end(self) -> bool:
        """True when the current gzip member ended here and its CRC checked out."""
        if not self.gzipped:
            return False
        self._fill(1)
        return not self._avail() and self._done

    def _avail(self) -> int:
        return len(self._buf) - self._off

    def _consume(self, k: int) -> None:
        self._off += k
        self._inner += k
        if self._mark is not None and self._off - self._mark > _MAX_KEPT:
            self._mark = None  # a huge record: seeking back into it decompresses again
        self._compact()

    def _compact(self) -> None:
        """Drop read bytes that no mark needs."""
        keep = self._off if self._mark is None else self._mark
        if keep:
            del self._buf[:keep]
            self._off -= keep
            if self._mark is not None:
                self._mark -= keep

    def _reset_buffer(self) -> None:
        self._buf.clear()
        self._off, self._mark = 0, None

    def _fill(self, n: int) -> None:
        """Buffer at least n unread bytes of the current member, fewer at its end."""
        while self._avail() < n:
            piece = self._produce()
            if not piece:
                return
            self._buf += piece

    def _ensure_data(self) -> bool:
        """Make unread bytes available, moving on to the next member if needed; False at EOF."""
        self._fill(1)
        while not self._avail():
            if not self._advance():
                return False
            self._fill(1)
        return True

    def _produce(self) -> bytes:
        """The next piece of the current member (the next raw chunk when not gzipped)."""
        if not self.gzipped:
            return self._raw.read(_CHUNK)
        while not self._done:
            assert self._dec is not None
            data = self._tail or self._raw.read(_CHUNK)
            try:
                # With no input left zlib may still hold output it could not return earlier.
                out = self._dec.decompress(data, _MAX_OUT)
            except zlib.error as exc:
                raise StreamDamage(
                    "malformed_record",
                    f"corrupt gzip member at byte {self._member}: {exc}",
                    self._member,
                ) from exc
            if not data and not out and not self._dec.eof:
                raise StreamDamage(
                    "truncated_record",
                    f"file ends inside the gzip member at byte {self._member}",
                    self._member,
                )
            self._tail = self._dec.unconsumed_tail
            if self._dec.eof:
                # The trailer's CRC32 and size were checked by zlib before eof is set.
                self._done = True
                self._next = self._raw.tell() - len(self._dec.unused_data) - len(self._tail)
                self._tail = b""
            if out:
                return out
        return b""

    def _advance(self) -> bool:
        """Start the member that follows the finished one, skipping junk; False at EOF."""
        if not self.gzipped or self._next is None:
            return False
        start = self._next
        self._raw.seek(start)
        head = self._raw.read(4)
        if not head:
            self._next = None
            return False
        if _is_member_header(head):
            self._start_member(start)
            return True
        found = self._find_member(start)
        self._note_skipped(start, found)
        if found is None:
            self._next = None
            return False
        self._start_member(found)
        return True

    def _note_skipped(self, start: int, end: int | None) -> None:
        """Remember junk between members unless it is only whitespace or NUL padding."""
        self._raw.seek(start)
        length = (end if end is not None else self._raw.seek(0, 2)) - start
        self._raw.seek(start)
        if self._raw.read(min(length, _CHUNK)).strip(_BLANK) or length > _CHUNK:
            self.skipped.append((start, length))

    def _start_member(self, offset: int) -> None:
        self._raw.seek(offset)
        self._reset_buffer()
        self._member, self._inner = offset, 0
        self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._tail, self._done, self._next = b"", False, None

    def _find_member(self, start: int) -> int | None:
        """Offset of the first gzip member at or after `start` that decompresses to a record."""
        pos, carry = start, b""
        while True:
            self._raw.seek(pos)
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                return None
            data, base = carry + chunk, pos - len(carry)
            i = data.find(_GZIP_MAGIC)
            while 0 <= i <= len(data) - 4:
                if _is_member_header(data[i : i + 4]) and self._is_record_member(base + i):
                    return base + i
                i = data.find(_GZIP_MAGIC, i + 1)
            carry, pos = data[-3:], pos + len(chunk)

    def _is_record_member(self, offset: int) -> bool:
        """Whether a gzip member starts at `offset` and its first bytes look like a record."""
        self._raw.seek(offset)
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        try:
            for _ in range(_PROBE_RAW_BYTES // 4096):
                data = self._raw.read(4096)
                if not data:
                    break
                out += dec.decompress(data, _PROBE_OUT_BYTES)
                if len(out) >= _PROBE_OUT_BYTES or dec.eof:
                    break
        except zlib.error:
            return False
        return self._looks_like_record(out.lstrip(_BLANK))


def _is_member_header(head: bytes) -> bool:
    return head[:3] == _GZIP_MAGIC and len(head) >= 4 and not head[3] & _GZIP_FLAG_RESERVED
