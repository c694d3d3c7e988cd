"""Request and response bodies of the Hacker News JSON API (the `/v0` read API answers plain
dicts in the official shapes instead; see reads.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.ids import IdStr

_STRICT = ConfigDict(extra="forbid")
MAX_ABOUT = 5000


class RegisterIn(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=2, max_length=15)
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class LoginIn(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=1, max_length=254)
    password: str = Field(max_length=1024)


class ClaimIn(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=2, max_length=15)


class AboutIn(BaseModel):
    model_config = _STRICT
    about: str = Field(max_length=MAX_ABOUT)


class AccountOut(BaseModel):
    username: str
    user_id: IdStr
    karma: int
    about: str
    created: int


class TokensOut(BaseModel):
    username: str | None
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class StoryIn(BaseModel):
    model_config = _STRICT
    title: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, max_length=10_000)


class EditIn(BaseModel):
    """A story's new `title` and/or `text` (empty text removes it), or a comment's new `text`."""

    model_config = _STRICT
    title: str | None = Field(default=None, min_length=1, max_length=200)
    text: str | None = Field(default=None, max_length=10_000)


class CommentIn(BaseModel):
    model_config = _STRICT
    text: str = Field(min_length=1, max_length=10_000)


class VoteIn(BaseModel):
    model_config = _STRICT
    how: Literal["up", "down", "un"]


class VoteOut(BaseModel):
    id: int
    score: int
    vote: Literal["up", "down"] | None


class FlagOut(BaseModel):
    id: int
    flagged: bool
    dead: bool


class MyVote(BaseModel):
    item_id: int
    vote: Literal["up", "down"]


class MyVotesOut(BaseModel):
    votes: list[MyVote]
    next_before: int | None
