"""Posts: Markdown in, safe HTML out.

Writers type Markdown (CommonMark plus tables and strikethrough; inline HTML allowed, so media
can be embedded with `<img>`/`<figure>`). markdown-it-py renders it and nh3 (the Ammonia
sanitizer) then keeps only an allow-list of tags and attributes: no scripts, no event handlers,
no styles, no iframes, and only http(s)/mailto URLs, so nothing a writer types can run in a
reader's browser or mail client. Links get `rel="noopener noreferrer nofollow"`.

A paid post shows readers without access a preview: everything above a line holding only
`<!-- paywall -->` if the writer put one, else the first `PREVIEW_BLOCKS` top-level blocks.
Rendering is O(n) in the length of the Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

PAYWALL_MARKER = "<!-- paywall -->"
PREVIEW_BLOCKS = 2
MAX_LINKS = 200

_TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    "a": {"href", "hreflang", "title"},
    "img": {
        "src",
        "alt",
        "title",
        "width",
        "height",
    },
}
_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@dataclass(frozen=True)
class RenderedPost:
    html: str
    preview_html: str
    links: list[str]
    """Distinct http(s) link targets of the full post, in document order."""


def sanitize(html: str) -> str:
    """`html` with everything outside the allow-list removed. O(n)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _preview_markdown(source: str) -> str:
    lines = source.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == PAYWALL_MARKER:
            return "\n".join(lines[:index])
    # Top-level blocks are the level-0 tokens that open (or are) a block; each maps its lines.
    starts = [t.map for t in _markdown.parse(source) if t.level == 0 and t.nesting >= 0 and t.map]
    if len(starts) > PREVIEW_BLOCKS:
        return "\n".join(lines[: starts[PREVIEW_BLOCKS - 1][1]])
    return source


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        for name, value in attrs:
            if name != "href" or not value or len(self.links) >= MAX_LINKS:
                continue
            if value.startswith(("http://", "https://")) and value not in self.links:
                self.links.append(value)


def links_of(html: str) -> list[str]:
    """Distinct http(s) `href`s of `html`, in order (at most MAX_LINKS). O(n)."""
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    return collector.links


def render_post(source: str) -> RenderedPost:
    """The sanitized HTML, preview HTML and links of a post's Markdown `source`."""
    html = sanitize(_markdown.render(source))
    preview = sanitize(_markdown.render(_preview_markdown(source)))
    return RenderedPost(html=html, preview_html=preview, links=links_of(html))
