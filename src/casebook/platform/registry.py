"""The System registry: every case study, built or not, with its seed features.

The catalogue (a TOML file owned by `casebook.systems`) lists all systems and their feature ids. A
built system's package exports `SYSTEM`, the catalogue entry with its parts attached (API router,
pages, capacity model, demo data). `casebook features` and the console read this registry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.types import ASGIApp

    from casebook.platform.capacity import CapacityModel
    from casebook.platform.context import Platform

FEATURE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


RAW_SEND = "casebook.raw_send"
"""Scope key of a WebSocket's send as the server gave it (the app sets it before any
middleware): for `{"type": "websocket.send"}` messages only, after the accept and before the
close, which stay with Starlette's `WebSocket` so it tracks the socket's state."""

RAW_RECEIVE = "casebook.raw_receive"
"""Scope key of a WebSocket's receive as the server gave it (set with `RAW_SEND`): for a
socket's data frames once it is accepted, read without Starlette's `WebSocket.receive` and
every middleware's receive wrapper on the way (a reader that takes it records the client's
disconnect on the `WebSocket` itself)."""


@dataclass(frozen=True)
class Feature:
    id: str
    title: str


FastPath = Callable[["Platform", "ASGIApp"], "ASGIApp"]
"""Wraps the FastAPI app with a lean ASGI handler for a hot path (see ARCHITECTURE §4)."""


@dataclass(frozen=True)
class System:
    number: int
    slug: str
    title: str
    seed: str
    group: str
    engines: tuple[str, ...]
    hard_core: str
    summary: str
    features: tuple[Feature, ...]
    api: APIRouter | None = None
    pages: APIRouter | None = None
    realtime: APIRouter | None = None
    """WebSocket routes, mounted at `/ws/<slug>` (ARCHITECTURE §7)."""
    fast_path: FastPath | None = None
    capacity: CapacityModel | None = None
    demo: Callable[[Platform], Awaitable[None]] | None = None
    on_startup: Callable[[Platform], Awaitable[None]] | None = None
    on_shutdown: Callable[[Platform], Awaitable[None]] | None = None
    on_ready: Callable[[Platform], Awaitable[None]] | None = None
    """Called once the whole app has started (every system's `on_startup`, the job worker,
    demo data), just before it is served: for listeners of a system's own that must not answer
    before then."""
    models_module: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        return self.api is not None

    @property
    def package(self) -> str:
        return self.slug.replace("-", "_")

    @property
    def table_prefix(self) -> str:
        return self.slug.replace("-", "") + "_"

    def feature(self, feature_id: str) -> Feature:
        for feature in self.features:
            if feature.id == feature_id:
                return feature
        raise KeyError(f"{self.slug} has no feature {feature_id!r}")

    def attach(self, **parts: Any) -> System:
        """This catalogue entry with its implementation attached."""
        return replace(self, **parts)


def load_catalog(path: Path) -> dict[str, System]:
    """Read the catalogue: slug → System (not built), in catalogue order.

    Raises ValueError on a duplicate slug or a malformed/duplicate feature id.
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    systems: dict[str, System] = {}
    for entry in data["system"]:
        slug = entry["slug"]
        if slug in systems:
            raise ValueError(f"duplicate system slug {slug!r} in {path}")
        features = []
        seen: set[str] = set()
        for raw in entry.get("feature", []):
            fid = raw["id"]
            if not FEATURE_ID.match(fid) or fid in seen:
                raise ValueError(f"bad or duplicate feature id {fid!r} for {slug}")
            seen.add(fid)
            features.append(Feature(fid, raw["title"]))
        systems[slug] = System(
            number=int(entry["number"]),
            slug=slug,
            title=entry["title"],
            seed=entry["seed"],
            group=entry["group"],
            engines=tuple(entry.get("engines", ())),
            hard_core=entry.get("hard_core", ""),
            summary=entry.get("summary", ""),
            features=tuple(features),
        )
    return systems


def select(systems: Sequence[System], slugs: Sequence[str]) -> list[System]:
    """The systems named by `slugs` (all when empty); raises KeyError naming an unknown slug."""
    if not slugs:
        return list(systems)
    by_slug = {s.slug: s for s in systems}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        raise KeyError(f"unknown system(s): {', '.join(unknown)}")
    return [by_slug[s] for s in slugs]
