"""Webhooks: a bot with a webhook gets its updates POSTed to its URL, one at a time, in order.

Delivery is a platform job per bot (`telegram.webhook-deliver`). It POSTs the oldest pending
update as JSON with `X-Telegram-Bot-Api-Secret-Token` (when the bot set a secret), deletes it
on a 2xx answer and goes on with the next; on a failure (connection error, timeout, non-2xx) it
records the error (getWebhookInfo shows it), counts the failure and enqueues itself again after
an exponential backoff (`TelegramConfig.webhook_backoff_*`): base · 2^(failures-1), capped. A
success resets the count. At least once, like Telegram: an update whose 2xx answer is lost is
sent again, and bots dedupe by update_id.

Within a process a per-bot lock keeps one delivery loop per bot, so updates leave in order.
(Across processes two loops may overlap for a moment; the receiver may then see an update
twice, which at-least-once allows.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import delete, select, update

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.telegram.models import TelegramBot, TelegramUpdate

log = structlog.get_logger("casebook.telegram.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
JOB = "telegram.webhook-deliver"


@dataclass
class TelegramConfig:
    """Knobs of the Telegram system in this process (tests shorten the backoff)."""

    webhook_backoff_base: float = 1.0
    webhook_backoff_max: float = 600.0
    webhook_timeout: float = 10.0
    bot_api_rate_per_second: float = 30.0
    """Telegram's documented limit for a bot's messages; also its burst."""


def config(platform: Platform) -> TelegramConfig:
    current = platform.state.get("telegram:config")
    if not isinstance(current, TelegramConfig):
        current = TelegramConfig()
        platform.state["telegram:config"] = current
    return current


def _locks(platform: Platform) -> dict[int, asyncio.Lock]:
    locks: dict[int, asyncio.Lock] = platform.state.setdefault("telegram:webhook-locks", {})
    return locks


def check_url(url: str) -> str | None:
    """Why `url` cannot be a webhook, or None. HTTP(S) with a host; no credentials."""
    if len(url) > 2048:
        return "webhook URL is too long"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "bad webhook: An HTTPS URL must be provided for webhook"
    if parts.username or parts.password:
        return "bad webhook: the URL must not contain credentials"
    return None


def backoff(platform: Platform, failures: int) -> float:
    settings = config(platform)
    return float(
        min(settings.webhook_backoff_max, settings.webhook_backoff_base * 2 ** max(0, failures - 1))
    )


async def schedule(
    platform: Platform, system: str, bot_id: int, *, key: str, delay: float = 0.0
) -> None:
    """Run a delivery loop for the bot (after `delay` seconds). `key` names what triggers it
    (the newest update id, or the retry number), so a trigger is never swallowed by a loop that
    is just finishing; extra loops find nothing to send and end."""
    await platform.jobs.enqueue(
        JOB, {"bot_id": str(bot_id), "system": system}, key=f"{bot_id}:{key}", delay=delay
    )


async def deliver(platform: Platform, payload: dict[str, Any]) -> None:
    """The job: POST the bot's pending updates in order until none is left or one fails."""
    bot_id = int(payload["bot_id"])
    system = str(payload["system"])
    lock = _locks(platform).setdefault(bot_id, asyncio.Lock())
    async with lock, httpx.AsyncClient(timeout=config(platform).webhook_timeout) as http:
        while True:
            async with platform.db.session() as session:
                bot = await session.get(TelegramBot, bot_id)
                if bot is None or bot.revoked_at is not None or not bot.webhook_url:
                    return
                url, secret = bot.webhook_url, bot.webhook_secret
                row = await session.scalar(
                    select(TelegramUpdate)
                    .where(TelegramUpdate.bot_id == bot_id)
                    .order_by(TelegramUpdate.update_id)
                    .limit(1)
                )
                if row is None:
                    return
                update_id, body = row.update_id, row.payload
            headers = {SECRET_HEADER: secret} if secret else {}
            error: str | None = None
            try:
                answer = await http.post(url, json=body, headers=headers)
                if not 200 <= answer.status_code < 300:
                    status = f"{answer.status_code} {answer.reason_phrase}"
                    error = f"Wrong response from the webhook: {status}"
            except httpx.HTTPError as failure:
                error = f"Connection failed: {type(failure).__name__}"
            async with platform.db.session() as session:
                if error is None:
                    await session.execute(
                        delete(TelegramUpdate).where(
                            TelegramUpdate.bot_id == bot_id, TelegramUpdate.update_id == update_id
                        )
                    )
                    await session.execute(
                        update(TelegramBot)
                        .where(TelegramBot.id == bot_id)
                        .values(webhook_failures=0)
                    )
                    continue
                failures = await session.scalar(
                    update(TelegramBot)
                    .where(TelegramBot.id == bot_id)
                    .values(
                        webhook_failures=TelegramBot.webhook_failures + 1,
                        webhook_last_error=error[:512],
                        webhook_last_error_at=utcnow(),
                    )
                    .returning(TelegramBot.webhook_failures)
                )
            delay = backoff(platform, int(failures or 1))
            log.info("webhook delivery failed", bot_id=bot_id, error=error, retry_in=delay)
            await schedule(
                platform, system, bot_id, key=f"retry:{failures}:{update_id}", delay=delay
            )
            return


async def resume_pending(platform: Platform, system: str) -> int:
    """At startup: schedule a delivery for every live webhook bot with pending updates.

    Updates commit with their messages, but the job that delivers them is enqueued after the
    COMMIT; a crash in between would leave them waiting for the bot's next update. One query
    (bots with a webhook that have an update row); returns how many deliveries were scheduled.
    """
    async with platform.db.session() as session:
        bot_ids = list(
            await session.scalars(
                select(TelegramBot.id).where(
                    TelegramBot.revoked_at.is_(None),
                    TelegramBot.webhook_url.is_not(None),
                    select(TelegramUpdate.update_id)
                    .where(TelegramUpdate.bot_id == TelegramBot.id)
                    .exists(),
                )
            )
        )
    for bot_id in bot_ids:
        await schedule(platform, system, bot_id, key="startup")
    return len(bot_ids)


def register_jobs(platform: Platform) -> None:
    """Register the delivery job (the Telegram system's startup calls this once)."""
    platform.jobs.register(JOB, deliver, retries=3, timeout=120.0)
