"""C4-style boilerplate lines (cookie and policy banners, "enable JavaScript") and their removal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from schemas.records import Node, TextNode

if TYPE_CHECKING:  # text_filters imports this module; the config is needed for hints only
    from curation.text_filters import TextFilterConfig

# C4's policy substrings (its `_get_policy_remover`) plus common cookie-banner phrasing.
_POLICY_CUES = (
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
    "accept cookies",
    "accept all cookies",
    "cookie settings",
    "privacy policy",
    "terms of use",
)
# A JavaScript line is boilerplate only when it asks the reader to enable it.
_JAVASCRIPT_CUES = ("enable", "activate", "turn on", "switch on", "disabled", "requires", "must")
_BOILERPLATE_TRIGGERS = ("cookie", "javascript", "privacy policy", "terms of use")


def is_boilerplate_line(line: str, cfg: TextFilterConfig) -> bool:
    """True for a cookie/policy banner line or an "enable JavaScript" message (C4)."""
    low = line.lower()
    if not any(trigger in low for trigger in _BOILERPLATE_TRIGGERS):
        return False
    if len(low.split()) > cfg.max_boilerplate_line_words:
        return False
    if any(cue in low for cue in _POLICY_CUES):
        return True
    return "javascript" in low and any(cue in low for cue in _JAVASCRIPT_CUES)


def remove_boilerplate(
    nodes: Sequence[Node], cfg: TextFilterConfig
) -> tuple[tuple[Node, ...], int, int]:
    """Nodes without boilerplate lines (emptied text nodes go; images stay), removed, total."""
    kept: list[Node] = []
    removed = total = 0
    for node in nodes:
        if not isinstance(node, TextNode):
            kept.append(node)
            continue
        lines = node.text.split("\n")
        clean = [ln for ln in lines if not (ln.strip() and is_boilerplate_line(ln, cfg))]
        total += sum(1 for ln in lines if ln.strip())
        removed += len(lines) - len(clean)
        if len(clean) == len(lines):
            kept.append(node)
        elif any(ln.strip() for ln in clean):
            kept.append(TextNode("\n".join(clean)))
    return tuple(kept), removed, total
