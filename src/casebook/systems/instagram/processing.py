"""The photo pipeline's pure part: bytes in, stripped and resized JPEG renditions out.

`process_photo` (Pillow) applies the EXIF orientation to the pixels, drops every metadata
block (EXIF with GPS, XMP, ICC comments) by re-encoding the pixels alone, writes JPEG variants at
the widths of `VARIANT_WIDTHS` that do not upscale, and computes a blurhash placeholder from a
32-pixel thumbnail. `video_poster` runs ffmpeg to take a frame of a video as a still, which then
goes through `process_photo` like any photo.

Cost: decoding and resizing are O(pixels); the blurhash is O(32·32·components), constant. Both
are CPU work, so callers run them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import blurhash
from PIL import Image, ImageOps, UnidentifiedImageError

VARIANT_WIDTHS = (1080, 640, 320)
MAX_PIXELS = 50_000_000
"""Decompression-bomb guard: larger images are refused before their pixels are decoded."""
JPEG_QUALITY = 85
FFMPEG_TIMEOUT = 30.0


class MediaRejected(ValueError):
    """The bytes are not an image (or video) this pipeline can read; the message says why."""


@dataclass(frozen=True)
class ProcessedPhoto:
    width: int
    height: int
    blurhash: str
    variants: dict[int, bytes]
    """Width → JPEG bytes, widest first; always at least one (the original width when narrower
    than every variant width)."""


def _encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # A fresh RGB image carries no `info`, so nothing of the upload's metadata is written.
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def process_photo(data: bytes) -> ProcessedPhoto:
    """Orient, strip, resize and blurhash one photo. Raises `MediaRejected`."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise MediaRejected(f"At most {MAX_PIXELS} pixels per photo.")
            probe.load()
            oriented = ImageOps.exif_transpose(probe)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise MediaRejected(f"Not a readable image: {error}") from None
    # Copy the pixels alone into a new image: EXIF (GPS included), XMP and comments stay behind.
    rgb = oriented.convert("RGB")
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    width, height = clean.size
    variants: dict[int, bytes] = {}
    for target in VARIANT_WIDTHS:
        if target > width:
            continue
        resized = clean.resize(
            (target, max(1, round(height * target / width))), Image.Resampling.LANCZOS
        )
        variants[target] = _encode_jpeg(resized)
    if not variants:
        variants[width] = _encode_jpeg(clean)
    thumb = clean.copy()
    thumb.thumbnail((32, 32))
    pixels = list(thumb.get_flattened_data())
    rows = [pixels[y * thumb.width : (y + 1) * thumb.width] for y in range(thumb.height)]
    components_x, components_y = (4, 3) if width >= height else (3, 4)
    placeholder = blurhash.encode(rows, components_x, components_y)
    return ProcessedPhoto(width, height, placeholder, variants)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


@dataclass(frozen=True)
class VideoPoster:
    frame: bytes
    """A PNG of the frame at `POSTER_AT` seconds (or the first frame of a shorter video)."""
    duration_ms: int


POSTER_AT = 1.0


def video_poster(data: bytes) -> VideoPoster:
    """Probe a video's duration with ffprobe and grab a poster frame with ffmpeg.

    Raises `MediaRejected` when ffmpeg cannot read it (or is not installed: Debian `ffmpeg`).
    """
    if not ffmpeg_available():
        raise MediaRejected("Video processing needs ffmpeg (the Debian package `ffmpeg`).")
    with tempfile.TemporaryDirectory(prefix="instagram-video-") as work:
        source = Path(work) / "source"
        source.write_bytes(data)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-select_streams",
             "v:0", "-show_entries", "stream=codec_type", "-of", "json", str(source)],
            capture_output=True, timeout=FFMPEG_TIMEOUT, check=False,
        )  # fmt: skip
        info = json.loads(probe.stdout or b"{}") if probe.returncode == 0 else {}
        if not info.get("streams"):
            raise MediaRejected("Not a readable video (no video stream).")
        duration = float(info.get("format", {}).get("duration") or 0.0)
        poster = Path(work) / "poster.png"
        at = POSTER_AT if duration > POSTER_AT else 0.0
        grab = subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-ss", f"{at:.3f}", "-i", str(source),
             "-frames:v", "1", str(poster)],
            capture_output=True, timeout=FFMPEG_TIMEOUT, check=False,
        )  # fmt: skip
        if grab.returncode != 0 or not poster.exists():
            raise MediaRejected("Could not take a frame of the video.")
        return VideoPoster(poster.read_bytes(), round(duration * 1000))
