"""The console: `/` lists every system of the catalogue; `/systems/<slug>` shows one in detail.

A system is "built" when its package is in the registry (`System.built`), and "served" when this
app mounts it (a built system can be left out with `CASEBOOK_SYSTEMS` / `--only`): only served
systems get links to their page and their API docs. Whether each seed feature is proven by tests
is a question for the test suite (`casebook features`), which the console cannot run per request;
it shows the feature list with ids so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from casebook.platform.errors import NotFound
from casebook.platform.registry import System
from casebook.systems import all_systems
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

router = APIRouter()
templates = Templates()


@dataclass(frozen=True)
class SystemEntry:
    """One system as the console shows it."""

    system: System
    served: bool

    @property
    def status(self) -> str:
        """`served`, `built` (but not mounted by this server) or `not-yet`."""
        if self.served:
            return "served"
        return "built" if self.system.built else "not-yet"

    @property
    def page_url(self) -> str | None:
        return f"/{self.system.slug}/" if self.served and self.system.pages else None

    @property
    def docs_url(self) -> str | None:
        return f"/docs#/{self.system.slug}" if self.served else None

    @property
    def detail_url(self) -> str:
        return f"/systems/{self.system.slug}"


@dataclass(frozen=True)
class Group:
    name: str
    entries: tuple[SystemEntry, ...]

    @property
    def built(self) -> int:
        return sum(1 for e in self.entries if e.system.built)


def served_slugs(request: Request) -> frozenset[str]:
    systems: Sequence[System] = request.app.state.systems
    return frozenset(s.slug for s in systems)


def group_systems(systems: Iterable[System], served: frozenset[str]) -> list[Group]:
    """Systems grouped by `group`, groups in order of first appearance, systems in given order.

    O(n) in the number of systems.
    """
    grouped: dict[str, list[SystemEntry]] = {}
    for system in systems:
        entry = SystemEntry(system, system.built and system.slug in served)
        grouped.setdefault(system.group, []).append(entry)
    return [Group(name, tuple(entries)) for name, entries in grouped.items()]


@router.get("/", response_class=HTMLResponse)
async def console(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """Every system of the catalogue by group, with status, feature count and links."""
    systems = all_systems()
    groups = group_systems(systems, served_slugs(request))
    context = {
        "groups": groups,
        "total": len(systems),
        "built": sum(1 for s in systems if s.built),
        "features": sum(len(s.features) for s in systems),
    }
    return templates.render(request, "console.html", context, viewer=viewer)


@router.get("/systems/{slug}", response_class=HTMLResponse)
async def system_detail(request: Request, slug: str, viewer: OptionalViewer) -> HTMLResponse:
    """One system: summary, hard core, engines, every seed feature, capacity figures, links.

    Raises NotFound for a slug the catalogue does not have.
    """
    system = next((s for s in all_systems() if s.slug == slug), None)
    if system is None:
        raise NotFound(f"No system has the slug {slug!r}; the console at / lists them all.")
    entry = SystemEntry(system, system.built and slug in served_slugs(request))
    capacity_rows = system.capacity.summary_rows() if system.capacity is not None else None
    context = {"entry": entry, "system": system, "capacity_rows": capacity_rows}
    return templates.render(request, "system.html", context, viewer=viewer)
