"""Project images in the platform blob store (the seed's "details, images, videos"; its storage
tier is "HDFS or Amazon S3 for photos/media": `platform.blobs` is a directory or S3).

An upload is checked before anything is stored: at most MAX_IMAGE_BYTES, and its first bytes
must be a PNG, JPEG, GIF or WebP signature matching the declared Content-Type (the type is
sniffed, never trusted, so a script cannot be served back as an image). Each upload gets a key
of its own (`kickstarter/projects/<id>/image-<upload id>.<ext>`): the project row points at the
new key in one committed UPDATE, and only after that commit is the previous blob deleted, so
a reader never follows the row to a missing blob. O(size) to store, O(1) database work.
"""

from __future__ import annotations

from dataclasses import dataclass

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Problem
from casebook.platform.ids import new_id
from casebook.systems.kickstarter.errors import NoProjectImage
from casebook.systems.kickstarter.projects import own_project, visible_project

MAX_IMAGE_BYTES = 5_000_000
"""The seed's 5 MB per project."""
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_EXTENSION = {media: ext for ext, media in MEDIA_TYPES.items()}


class UnsupportedImage(Problem):
    status = 415
    type_ = "kickstarter/unsupported-image"
    title = "Not a PNG, JPEG, GIF or WebP image"


def sniff(data: bytes) -> str | None:
    """The media type of `data` from its signature, or None if it is none of ours. O(1)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(data: bytes, declared: str | None) -> str:
    """The file extension for `data`, an image of the `declared` media type. Raises
    UnsupportedImage when it is empty, not an image of ours, or not what it claims to be."""
    media = (declared or "").split(";")[0].strip().lower()
    if media not in _EXTENSION:
        raise UnsupportedImage(
            f"Send the image with Content-Type one of {', '.join(sorted(_EXTENSION))}."
        )
    found = sniff(data)
    if found != media:
        raise UnsupportedImage(
            f"The body is not a {media} image"
            + (f" (it looks like {found})." if found else " (its signature is not one we accept).")
        )
    return _EXTENSION[media]


def media_type(key: str) -> str:
    """The media type of a stored image key, from its extension."""
    return MEDIA_TYPES[key.rsplit(".", 1)[-1]]


@dataclass(frozen=True)
class StoredImage:
    key: str
    size: int


async def replace_image(
    platform: Platform, user_id: int, project_id: int, data: bytes, declared: str | None
) -> StoredImage:
    """Store `data` as the creator's project image and delete the one it replaces.

    Raises UnsupportedImage (415), PayloadTooLarge (413), ProjectNotFound, NotTheCreator;
    on any of them the project keeps its image.
    """
    extension = check_image(data, declared)
    async with platform.db.session() as session:
        await own_project(session, project_id, user_id)  # check before storing anything
    key = f"kickstarter/projects/{project_id}/image-{new_id()}.{extension}"
    info = await platform.blobs.put(key, data, max_size=MAX_IMAGE_BYTES)
    try:
        async with platform.db.session(write=True) as session:
            project = await own_project(session, project_id, user_id)
            previous = project.image_key
            project.image_key = key
            project.updated_at = utcnow()
    except BaseException:
        await platform.blobs.delete(key)
        raise
    if previous is not None:
        await platform.blobs.delete(previous)
    return StoredImage(key, info.size)


async def image_key(platform: Platform, project_id: int, viewer_id: int | None) -> str:
    """The blob key of the project's image, if the viewer may see the project. Raises
    ProjectNotFound, NoProjectImage."""
    async with platform.db.session() as session:
        project = await visible_project(session, project_id, viewer_id)
    if project.image_key is None:
        raise NoProjectImage(f"Project {project_id} has no image.")
    return project.image_key
