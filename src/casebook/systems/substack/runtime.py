"""Substack's process state and jobs.

Jobs (all idempotent, see platform/jobs.py):
- `substack.send-post` {post_id}: mails a published post to its subscribers in batches
  (newsletter.py), keyed by post so one run per post is queued at a time;
- `substack.publish-post` {post_id}: publishes a scheduled post at its time (enqueued with a
  delay when the writer schedules it);
- `substack.sweep`: every SWEEP_EVERY_SECONDS publishes scheduled posts that are due (what a
  restarted embedded process lost of its delayed jobs), re-queues posts whose e-mail is still
  pending, and renews or lapses paid subscriptions whose period ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

from casebook.platform.context import Platform
from casebook.platform.mail import MailSender
from casebook.systems.substack.cards import CardProcessor

log = structlog.get_logger("casebook.substack")

STATE_KEY = "substack"
SEND_JOB = "substack.send-post"
PUBLISH_JOB = "substack.publish-post"
SWEEP_JOB = "substack.sweep"
SWEEP_EVERY_SECONDS = 30


@dataclass
class Substack:
    sender: MailSender
    base_url: str
    signing_key: str
    batch_size: int = 100
    """E-mails sent per SMTP connection."""
    cards: CardProcessor = field(default_factory=CardProcessor)

    @property
    def mail_domain(self) -> str:
        """The domain of From and bounce addresses: the site's host when it is a DNS name."""
        host = urlsplit(self.base_url).hostname or ""
        if "." in host and not host.replace(".", "").isdecimal():
            return host
        return "casebook.localhost"


def substack(platform: Platform) -> Substack:
    """This process's Substack state (made by `start`)."""
    state: Substack = platform.state[STATE_KEY]
    return state


async def start(platform: Platform) -> None:
    from casebook.systems.substack import newsletter

    settings = platform.settings
    platform.state[STATE_KEY] = Substack(
        sender=MailSender.from_settings(settings),
        base_url=settings.base_url.rstrip("/"),
        signing_key=settings.signing_key,
    )
    platform.jobs.register(SEND_JOB, newsletter.send_post_job, retries=8)
    platform.jobs.register(PUBLISH_JOB, newsletter.publish_post_job, retries=5)
    platform.jobs.register(SWEEP_JOB, _sweep_job, retries=3)
    await schedule_sweep(platform)


async def stop(platform: Platform) -> None:
    platform.state.pop(STATE_KEY, None)


async def schedule_sweep(platform: Platform, now: float | None = None) -> str:
    """The next sweep at the next boundary, keyed by it (one per slot across a cluster)."""
    now = time.time() if now is None else now
    due = (int(now) // SWEEP_EVERY_SECONDS + 1) * SWEEP_EVERY_SECONDS
    return await platform.jobs.enqueue(SWEEP_JOB, {}, key=str(due), delay=due - now)


async def _sweep_job(platform: Platform, payload: dict[str, Any]) -> None:
    from casebook.systems.substack import newsletter

    await newsletter.sweep(platform)
    await schedule_sweep(platform)
