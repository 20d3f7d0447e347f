"""What the sample crawl holds and what curation should make of it (manifest.json).

For each page: where it lives, its layout and language, the stage and reason it should
be dropped for (or "kept"), its content images in DOM order with where each is stored
and whether it should pass image validation, the decoy images that must not reach the
output, and text snippets that must (main text) or must not (boilerplate) survive.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Expected outcomes, "stage:reason" as the pipeline's Rejection records name them.
KEPT = "kept"
NOT_HTML = "read:not_html"
HTTP_STATUS = "read:http_status"
MALFORMED_RECORD = "read:malformed_record"
SKIPPED_REVISIT = "read:skipped_revisit"
BOILERPLATE = "filter_text:boilerplate"
LOREM_IPSUM = "filter_text:lorem_ipsum"

WHERE = ("warc", "mirror", "missing")  # missing: an unresolvable .invalid host
STATUS = ("ok", "corrupt", "too_small", "aspect", "bomb")


@dataclass(frozen=True)
class ContentImage:
    """A content image of a page, by the URL an extractor should pick for it."""

    url: str  # absolute: the largest srcset/picture candidate, the lazy data-src …
    where: str  # one of WHERE
    status: str  # one of STATUS: what image validation should conclude from the bytes
    markup: str = "plain"  # how the page refers to it (plain, srcset, lazy, picture …)
    alternates: tuple[str, ...] = ()  # the other candidates of its srcset/<picture>
    alt: str = ""  # its alt text (metadata the extractor should keep)

    @property
    def survives(self) -> bool:
        """True when the image can be fetched and passes validation."""
        return self.where != "missing" and self.status == "ok"


@dataclass(frozen=True)
class PageExpectation:
    """One page (an HTTP response record) of the sample WARC."""

    url: str
    site: str
    layout: str
    language: str
    expect: str  # KEPT or "stage:reason"
    charset: str = "utf-8"  # the encoding of the bytes
    charset_declared: str = "both"  # "both", "header", "meta" or "none"
    warc_offset: int = -1  # byte offset of the response record's gzip member
    word_count: int = 0  # words of body prose (characters for Japanese)
    content_images: tuple[ContentImage, ...] = ()
    decoy_images: tuple[str, ...] = ()
    main_text_snippets: tuple[str, ...] = ()
    boilerplate_snippets: tuple[str, ...] = ()

    @property
    def expect_stage(self) -> str:
        """The stage that should drop the page ("" when kept)."""
        return "" if self.expect == KEPT else self.expect.split(":", 1)[0]


@dataclass(frozen=True)
class OtherRecord:
    """A record that is not a page of its own: the damaged one, the revisit."""

    kind: str  # "corrupt" or "revisit"
    url: str
    offset: int
    expect: str


@dataclass(frozen=True)
class SampleManifest:
    """Everything `make_sample_crawl` wrote and what curation should make of it."""

    seed: int
    warc: str  # file name, relative to the output directory
    mirror: str  # directory name, relative to the output directory
    pages: tuple[PageExpectation, ...]
    other_records: tuple[OtherRecord, ...] = ()
    record_counts: dict[str, int] = field(default_factory=dict)  # readable records by type
    root: str = field(default="", compare=False)  # the output directory (not serialised)

    @property
    def warc_path(self) -> Path:
        return Path(self.root) / self.warc

    @property
    def mirror_dir(self) -> Path:
        return Path(self.root) / self.mirror

    def page(self, url: str) -> PageExpectation:
        """The page with this URL; KeyError when the crawl has none."""
        for page in self.pages:
            if page.url == url:
                return page
        raise KeyError(url)

    def to_json(self) -> str:
        """Stable JSON (the same manifest always gives the same bytes)."""
        data = asdict(self)
        del data["root"]
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def manifest_from_json(text: str, root: str = "") -> SampleManifest:
    """Parse `SampleManifest.to_json` output back."""
    data = json.loads(text)
    pages = tuple(
        PageExpectation(
            **{
                **p,
                "content_images": tuple(
                    ContentImage(**{**c, "alternates": tuple(c["alternates"])})
                    for c in p["content_images"]
                ),
                "decoy_images": tuple(p["decoy_images"]),
                "main_text_snippets": tuple(p["main_text_snippets"]),
                "boilerplate_snippets": tuple(p["boilerplate_snippets"]),
            }
        )
        for p in data["pages"]
    )
    others = tuple(OtherRecord(**r) for r in data["other_records"])
    return SampleManifest(
        data["seed"], data["warc"], data["mirror"], pages, others, data["record_counts"], root
    )


def load_sample_manifest(out_dir: str | Path) -> SampleManifest:
    """Read `out_dir/manifest.json` as written by `make_sample_crawl`."""
    path = Path(out_dir) / "manifest.json"
    return manifest_from_json(path.read_text(encoding="utf-8"), root=str(out_dir))
