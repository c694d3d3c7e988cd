"""Ranking: the HN formula, the ranked story lists kept up to date incrementally, and comment order
within a thread.

    rank = (score - 1) / (age_hours + 2) ** gravity x penalty x flag_penalty ** flags

A story's rank falls as it ages and rises with votes. Ranks of different stories do not keep their
order as time passes (the age term grows at a different relative rate for each), so a ranked list
cannot be a static index. `RankedLists` keeps one sorted list per view (top, ask, show) keyed by
each story's rank as of its last change: a vote, submission, flag or kill re-keys that one story
(O(log W), W = stories in the ranking window), reads take the first n (O(n)), and every
`rerank_interval_seconds` the lists are rebuilt from the database with fresh ages (O(W log W),
once per interval, whatever the request rate). No request recomputes ranks over all items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sortedcontainers import SortedKeyList

VIEWS = ("top", "ask", "show")


def rank(score: int, age_seconds: float, gravity: float, factor: float = 1.0) -> float:
    """The HN rank of an item with `score` points, `age_seconds` old. O(1).

    Scores at or below 1 (no votes beyond the submitter's own) rank 0; ties are broken by the
    callers (newer first for stories).
    """
    hours = max(age_seconds, 0.0) / 3600.0
    return max(score - 1, 0) / math.pow(hours + 2.0, gravity) * factor


@dataclass(frozen=True)
class RankedStory:
    """What ranking needs of a live story."""

    id: int
    score: int
    created: float
    """Unix time of submission."""
    kind: str
    penalty: float
    flags: int

    def factor(self, flag_penalty: float) -> float:
        return self.penalty * math.pow(flag_penalty, self.flags)


def _key(entry: tuple[float, int]) -> tuple[float, int]:
    rank_value, story_id = entry
    return (-rank_value, -story_id)


class RankedLists:
    """The top, ask and show lists of one process, ranked by the HN formula.

    Not thread-safe; used from the event loop only. Complexities: `upsert`/`remove` O(log W),
    `ids` O(n), `rebuild` O(W log W), where W is the number of stories in the window.
    """

    def __init__(self, gravity: float, flag_penalty: float, window_seconds: float) -> None:
        self.gravity = gravity
        self.flag_penalty = flag_penalty
        self.window_seconds = window_seconds
        self._stories: dict[int, tuple[RankedStory, tuple[float, int]]] = {}
        self._lists: dict[str, SortedKeyList] = {v: SortedKeyList(key=_key) for v in VIEWS}

    def __len__(self) -> int:
        return len(self._stories)

    def _views(self, story: RankedStory) -> tuple[str, ...]:
        return ("top", story.kind) if story.kind in ("ask", "show") else ("top",)

    def upsert(self, story: RankedStory, now: float) -> None:
        """Add `story` or re-rank it with its new score/flags at time `now`; one outside the window
        is dropped instead."""
        self.remove(story.id)
        age = now - story.created
        if age > self.window_seconds:
            return
        entry = (rank(story.score, age, self.gravity, story.factor(self.flag_penalty)), story.id)
        self._stories[story.id] = (story, entry)
        for view in self._views(story):
            self._lists[view].add(entry)

    def remove(self, story_id: int) -> None:
        """Take a story out of every list (killed, deleted or re-keyed)."""
        held = self._stories.pop(story_id, None)
        if held is None:
            return
        story, entry = held
        for view in self._views(story):
            self._lists[view].remove(entry)

    def rebuild(self, stories: Iterable[RankedStory], now: float) -> None:
        """Replace the lists with `stories` ranked at `now` (the periodic refresh)."""
        ranked: dict[int, tuple[RankedStory, tuple[float, int]]] = {}
        for story in stories:
            age = now - story.created
            if age > self.window_seconds:
                continue
            factor = story.factor(self.flag_penalty)
            ranked[story.id] = (story, (rank(story.score, age, self.gravity, factor), story.id))
        lists: dict[str, SortedKeyList] = {v: SortedKeyList(key=_key) for v in VIEWS}
        for story, entry in ranked.values():
            for view in self._views(story):
                lists[view].add(entry)
        self._stories, self._lists = ranked, lists

    def ids(self, view: str, limit: int, offset: int = 0) -> list[int]:
        """Story ids of `view` ("top", "ask" or "show") from `offset`, best first."""
        ranked = self._lists[view]
        return [story_id for _, story_id in ranked.islice(offset, offset + limit)]

    def position(self, story_id: int) -> int | None:
        """The story's 0-based place on the top list, None when it is not ranked. O(log W)."""
        held = self._stories.get(story_id)
        if held is None:
            return None
        return int(self._lists["top"].index(held[1]))


@dataclass(frozen=True)
class ThreadComment:
    """What ordering a thread needs of a comment."""

    id: int
    parent_id: int
    score: int
    created: float


def thread_order(
    root_id: int, comments: Sequence[ThreadComment], now: float, gravity: float
) -> list[tuple[int, int]]:
    """Depth-first order of the comments under `root_id`, siblings ranked by the HN formula
    (ties: older first, as on HN): a list of (comment id, depth below the root, from 0).

    O(C log C) for C comments; iterative, so deep threads cannot exhaust the stack. Comments whose
    parent is not in `comments` (and is not the root) are left out.
    """
    children: dict[int, list[ThreadComment]] = {}
    for comment in comments:
        children.setdefault(comment.parent_id, []).append(comment)
    for siblings in children.values():
        siblings.sort(key=lambda c: (-rank(c.score, now - c.created, gravity), c.id))
    order: list[tuple[int, int]] = []
    stack = [(c, 0) for c in reversed(children.get(root_id, []))]
    while stack:
        comment, depth = stack.pop()
        order.append((comment.id, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(comment.id, [])))
    return order


def ranked_kids(
    parent_id: int, comments: Sequence[ThreadComment], now: float, gravity: float
) -> list[int]:
    """The direct replies of `parent_id` in ranked display order (the API's `kids`). O(k log k)."""
    kids = [c for c in comments if c.parent_id == parent_id]
    kids.sort(key=lambda c: (-rank(c.score, now - c.created, gravity), c.id))
    return [c.id for c in kids]
