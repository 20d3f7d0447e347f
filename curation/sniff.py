"""The media type a resource's leading magic bytes say, whatever a server or a WARC declared."""

from __future__ import annotations


def sniff_content_type(data: bytes) -> str | None:
    """The media type that the leading magic bytes say, or None when unknown."""
    head = data[:1024]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # BMP's two reserved header fields are zero; checking them avoids matching text starting "BM".
    if head[:2] == b"BM" and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return _sniff_iso_bmff(head)
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00") and len(head) >= 6 and head[4] > 0:
        return "image/x-icon"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return _sniff_markup(head)


def _sniff_iso_bmff(head: bytes) -> str | None:
    """AVIF / HEIC / MP4 / QuickTime from the ISO-BMFF `ftyp` box brands."""
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if brands & {b"avif", b"avis"}:
        return "image/avif"
    if brands & {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}:
        return "image/heic"
    if b"qt  " in brands:
        return "video/quicktime"
    if brands & {b"isom", b"iso2", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V "}:
        return "video/mp4"
    return None


def _sniff_markup(head: bytes) -> str | None:
    """SVG, HTML or XML from the first tag of a text document."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in text:
        return "image/svg+xml"
    html_starts = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<script", b"<div")
    if text.startswith(html_starts) or (text.startswith((b"<?xml", b"<!--")) and b"<html" in text):
        return "text/html"
    if text.startswith(b"<?xml"):
        return "text/xml"
    return None
