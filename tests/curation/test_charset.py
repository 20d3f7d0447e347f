"""Charset decoding: BOM, HTTP header, <meta>, detection, fallback, browser label mapping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.charset import (
    decode_html,
    detect_encoding,
    header_charset,
    meta_charset,
    normalize_label,
)

FRENCH = "Le garçon mangea une crème brûlée près du château, à l'été, « très bon »."
RUSSIAN = (
    "Съешь же ещё этих мягких французских булок, да выпей чаю. Широкая электрификация "
    "южных губерний даст мощный толчок подъёму сельского хозяйства. "
) * 4
JAPANESE = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。"
    * 3
)
CHINESE = (
    "中华人民共和国是工人阶级领导的、以工农联盟为基础的人民民主专政的社会主义国家。社会主义制度是中华人民共和国的根本制度。"
    * 3
)


def html(text: str, head: str = "") -> str:
    return f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("latin-1", "cp1252"),  # WHATWG: latin-1 / iso-8859-1 / ascii mean windows-1252
        ("ISO-8859-1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("iso-8859-9", "cp1254"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("shift_jis", "cp932"),
        ("euc-kr", "cp949"),
        ("windows-1251", "cp1251"),
        ('"koi8-r"', "koi8-r"),
        ("iso-8859-8-i", "iso8859-8"),
        ("utf-7", None),  # WHATWG maps it to "replacement": never decode with it
        ("base64", None),  # a Python codec, not a text encoding
        ("x-bogus-charset", None),
        ("", None),
    ],
)
def test_normalize_label(label, codec):
    assert normalize_label(label) == codec


def test_header_and_meta_charset_parsing():
    assert header_charset('text/html; charset="ISO-8859-15"') == "iso8859-15"
    assert header_charset("text/html") is None
    assert meta_charset(b'<meta charset="windows-1251">') == "cp1251"
    http_equiv = b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
    assert meta_charset(http_equiv) == "cp932"
    assert meta_charset(b'<?xml version="1.0" encoding="ISO-8859-2"?><html>') == "iso8859-2"
    # A <meta> can never switch to UTF-16: the page was read as ASCII-compatible.
    assert meta_charset(b'<meta charset="utf-16">') == "utf-8"
    # Only the first few KB are scanned, as browsers do.
    assert meta_charset(b" " * 10_000 + b'<meta charset="koi8-r">') is None


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")],
)
def test_bom_beats_every_declaration(bom, codec):
    body = html(FRENCH, '<meta charset="windows-1252">').encode(codec)
    text, used = decode_html(bom + body, "text/html; charset=iso-8859-1")
    assert used == codec
    assert FRENCH in text and not text.startswith("\ufeff")


def test_header_charset_beats_meta():
    body = html(FRENCH, '<meta charset="utf-8">').encode("iso-8859-15")
    text, used = decode_html(body, "text/html; charset=iso-8859-15")
    assert (used, FRENCH in text) == ("iso8859-15", True)


def test_meta_charset_is_used_without_header():
    body = html(RUSSIAN, '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">')
    text, used = decode_html(body.encode("koi8-r"))
    assert (used, RUSSIAN in text) == ("koi8-r", True)


def test_latin1_label_decodes_windows_1252_bytes():
    # 0x93/0x94 are curly quotes in windows-1252 but C1 controls in real ISO-8859-1.
    body = html("\u201cquoted\u201d and caf\u00e9").encode("cp1252")
    text, used = decode_html(body, "text/html; charset=iso-8859-1")
    assert used == "cp1252"
    assert "\u201cquoted\u201d and café" in text


def test_bogus_label_falls_through_to_the_next_source():
    body = html(FRENCH, '<meta charset="iso-8859-15">').encode("iso-8859-15")
    text, used = decode_html(body, "text/html; charset=x-no-such-thing")
    assert (used, FRENCH in text) == ("iso8859-15", True)


def test_wrong_declared_utf8_falls_through_to_detection():
    # Mislabelled: the server says UTF-8, the bytes are windows-1252.
    body = html(FRENCH * 3).encode("cp1252")
    text, used = decode_html(body, "text/html; charset=utf-8")
    assert FRENCH in text
    assert used == "cp1252"


def test_a_few_bad_bytes_keep_the_declared_utf8():
    body = html(FRENCH * 20).encode("utf-8")
    body = body[:200] + b"\xff" + body[200:]
    text, used = decode_html(body, "text/html; charset=utf-8")
    assert used == "utf-8" and text.count("\ufffd") == 1


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (FRENCH * 3, "cp1252"),
        (RUSSIAN, "cp1251"),
        (JAPANESE, "shift_jis"),
        (CHINESE, "gb18030"),
    ],
)
def test_undeclared_pages_are_detected(text, codec):
    body = html(text).encode(codec)
    decoded, used = decode_html(body)
    assert text in decoded, used


def test_undeclared_valid_utf8_is_utf8_without_detection():
    assert decode_html(html(JAPANESE).encode("utf-8")) == (html(JAPANESE), "utf-8")
    assert decode_html(b"<p>plain ascii</p>") == ("<p>plain ascii</p>", "utf-8")


def test_detection_ignores_markup():
    # Lots of ASCII markup around a little Spanish: detected on the text alone.
    text = "Sofríe el pimiento y la cebolla antes de añadir el tomate rallado. Añade sal."
    markup = '<div class="wrapper"><span class="x">' * 200
    body = html(markup + text + "</span></div>" * 200).encode("cp1252")
    assert detect_encoding(body) == "cp1252"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["", "text/html; charset=utf-8", "x; charset=zz"]))
def test_any_bytes_decode_to_text(content, content_type):
    text, used = decode_html(content, content_type)
    assert isinstance(text, str) and used
    assert normalize_label(used) is not None
