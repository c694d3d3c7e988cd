"""RSS 2.0 feed of a publication: its newest published posts, full text for free posts and the
preview for paid ones (a feed reader is not signed in). Built with ElementTree, so every title
and body is escaped; O(items)."""

from __future__ import annotations

from email.utils import format_datetime
from xml.etree import ElementTree as ET

from casebook.systems.substack.models import Post, Publication

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
ET.register_namespace("atom", ATOM)
ET.register_namespace("content", CONTENT)


def feed(base_url: str, publication: Publication, posts: list[Post]) -> bytes:
    """The RSS 2.0 document for `posts` (newest first)."""
    home = f"{base_url}/substack/{publication.slug}/"
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = publication.name
    ET.SubElement(channel, "link").text = home
    ET.SubElement(channel, "description").text = publication.description or publication.name
    ET.SubElement(channel, "language").text = "en"
    ET.SubElement(
        channel,
        f"{{{ATOM}}}link",
        {
            "href": f"{base_url}/api/substack/publications/{publication.slug}/feed.xml",
            "rel": "self",
            "type": "application/rss+xml",
        },
    )
    if posts and posts[0].published_at:
        ET.SubElement(channel, "lastBuildDate").text = format_datetime(posts[0].published_at)
    for post in posts:
        link = f"{home}p/{post.id}"
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = post.title
        ET.SubElement(item, "link").text = link
        ET.SubElement(item, "guid", {"isPermaLink": "true"}).text = link
        if post.published_at:
            ET.SubElement(item, "pubDate").text = format_datetime(post.published_at)
        ET.SubElement(item, "description").text = post.subtitle or post.title
        body = post.body_html if post.audience == "everyone" else post.preview_html
        ET.SubElement(item, f"{{{CONTENT}}}encoded").text = body
    document: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document
