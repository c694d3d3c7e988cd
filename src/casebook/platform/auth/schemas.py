"""Request and response bodies of `/api/auth`.

Field limits here bound the input's size; the rules themselves (address syntax, password length,
scope syntax) are checked by the service, so the web pages get the same answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.auth.scopes import MAX_SCOPES_PER_KEY, SCOPE_MAX_LENGTH, SCOPE_PATTERN
from casebook.platform.ids import IdStr

_SECRET_MAX_LENGTH = 1024


class RegisterIn(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(
        max_length=_SECRET_MAX_LENGTH, description="10 to 256 characters; not the e-mail address."
    )
    display_name: str = Field(max_length=200, examples=["Ada Lovelace"])


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=_SECRET_MAX_LENGTH)


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=_SECRET_MAX_LENGTH)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    email: str
    display_name: str
    created_at: datetime


ScopeStr = Annotated[
    str, Field(max_length=SCOPE_MAX_LENGTH, pattern=SCOPE_PATTERN, examples=["url-shortener:write"])
]


class ApiKeyIn(BaseModel):
    name: str = Field(max_length=200, examples=["deploy bot"])
    scopes: list[ScopeStr] = Field(
        min_length=1,
        max_length=MAX_SCOPES_PER_KEY,
        description=(
            "Scopes like `url-shortener:write`; a scope also grants those beneath it "
            "(`url-shortener` grants `url-shortener:write`)."
        ),
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(description="Accurate to about a minute.")


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. It is shown this once and cannot be recovered.")
