"""Photo posts: the image goes to the platform blob store under a key derived from the post id
(never from the post's editable `data`, so no post can point at another's image), and the post
records its media type and size. Reading the image is allowed exactly when reading the post is.
"""

from __future__ import annotations

from typing import Any

from casebook.engines.feed import fanout, posts, service
from casebook.engines.feed.runtime import FeedRuntime
from casebook.platform.errors import InvalidInput
from casebook.systems.facebook_timeline.models import SYSTEM

MAX_PHOTO_BYTES = 10 * 1024 * 1024
SIGNATURES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


class InvalidPhoto(InvalidInput):
    type_ = "facebook-timeline/invalid-photo"
    title = "Invalid photo"


def photo_key(post_id: int) -> str:
    return f"facebook-timeline/photos/{post_id}"


def check_photo(content_type: str, image: bytes) -> None:
    """The bytes must be a JPEG, PNG or GIF matching the declared type (by file signature),
    non-empty and at most `MAX_PHOTO_BYTES`. Raises `InvalidPhoto` (422)."""
    signatures = SIGNATURES.get(content_type)
    if signatures is None:
        raise InvalidPhoto("A photo is image/jpeg, image/png or image/gif.")
    if not image or len(image) > MAX_PHOTO_BYTES:
        raise InvalidPhoto(f"A photo is 1 byte to {MAX_PHOTO_BYTES} bytes.")
    if not image.startswith(signatures):
        raise InvalidPhoto(f"The bytes are not a {content_type} image.")


async def post_photo(
    runtime: FeedRuntime,
    user_id: int,
    *,
    content_type: str,
    image: bytes,
    caption: str,
    audience: str,
) -> int:
    """Create a photo post; returns its id. The post and the blob are written together: a
    failed blob write rolls the post back. Then the post fans out like any other. The caption
    is screened like a post's body (429 past the posting rate, 409/422 duplicate or spam)."""
    check_photo(content_type, image)
    data: dict[str, Any] = {
        "media": {"type": "photo", "content_type": content_type, "size": len(image)}
    }
    async with runtime.platform.db.session() as session:
        await service.screen_post(session, runtime, user_id, caption)
        post = await posts.create_post(
            session, SYSTEM, user_id, body=caption, audience=audience, data=data
        )
        await runtime.platform.blobs.put(photo_key(post.id), image, max_size=MAX_PHOTO_BYTES)
        post_id = post.id
    await fanout.enqueue(runtime, post_id, "published")
    return post_id
