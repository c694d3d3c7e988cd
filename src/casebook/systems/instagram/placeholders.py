"""Blurhash placeholders for pages: a blurhash string decoded (the `blurhash` package) into a
tiny PNG data URI that a page sets as an image's background, so a tile shows the picture's
colours before its JPEG arrives — without any script.

Cost: decoding is O(W·H·components) for a fixed 16x16 output, and results are memoised per
string (`functools.lru_cache`), so a feed page pays it once per distinct picture.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import blurhash
from PIL import Image

SIZE = 16
MAX_HASH = 64


@lru_cache(maxsize=4096)
def data_uri(code: str | None) -> str | None:
    """`data:image/png;base64,…` of the placeholder, or None for a missing or invalid code."""
    if not code or len(code) > MAX_HASH:
        return None
    try:
        rows = blurhash.decode(code, SIZE, SIZE)
    except ValueError:
        return None
    image = Image.new("RGB", (SIZE, SIZE))
    image.putdata(
        [tuple(max(0, min(255, int(c))) for c in pixel[:3]) for row in rows for pixel in row]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
