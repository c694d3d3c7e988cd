"""Interface strings of the Telegram pages in several languages (the seed's "multi-language
support").

The strings live in the catalogue `i18n.toml` (one table per language, every table with the keys
of "en"), read once at import. `choose(request)` picks the language: an explicit `?lang=` that
the catalogue has, else the best match of `Accept-Language` (RFC 9110 §12.5.4: quality values,
primary tags, `*`), else English. O(length of the header) per request.

The keys prefixed `chat_` are the engine's chat page (casebook.engines.messaging.web.strings);
`chat_locale(lang)` hands them to the page, built and checked once at import (a language whose
chat strings miss a key or a placeholder fails the import).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from starlette.requests import Request

from casebook.engines.messaging.web.strings import ChatLocale

CATALOGUE_FILE = Path(__file__).with_name("i18n.toml")
DEFAULT = "en"


def load_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, dict[str, str]]:
    """The catalogue: language → key → string. Raises ValueError when a language lacks a key of
    the default language or has one it lacks (a page must never show a missing string)."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    catalogue = {lang: {k: str(v) for k, v in table.items()} for lang, table in raw.items()}
    keys = set(catalogue[DEFAULT])
    for lang, table in catalogue.items():
        if set(table) != keys:
            missing, extra = sorted(keys - set(table)), sorted(set(table) - keys)
            raise ValueError(f"i18n.toml [{lang}]: missing {missing}, unknown {extra}")
    return catalogue


CATALOGUE = load_catalogue()
LANGUAGES = tuple(CATALOGUE)
CHAT_PREFIX = "chat_"


def _chat_locales() -> dict[str, ChatLocale]:
    choices = tuple((code, CATALOGUE[code]["language_name"]) for code in LANGUAGES)
    return {
        lang: ChatLocale(
            lang,
            {
                key.removeprefix(CHAT_PREFIX): text
                for key, text in table.items()
                if key.startswith(CHAT_PREFIX)
            },
            choices,
        )
        for lang, table in CATALOGUE.items()
    }


CHAT_LOCALES = _chat_locales()


def _accepted(header: str) -> list[str]:
    """Primary language tags of an Accept-Language header, best first (q=0 dropped; ties keep
    the header's order)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        fields = [f.strip() for f in part.split(";")]
        tag = fields[0].lower()
        if not tag:
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, tag.split("-")[0]))
    return [tag for _, _, tag in sorted(ranked)]


def choose(request: Request) -> str:
    """The language for `request`: `?lang=` if known, else Accept-Language, else English."""
    explicit = request.query_params.get("lang", "").lower()
    if explicit in CATALOGUE:
        return explicit
    for tag in _accepted(request.headers.get("accept-language", "")):
        if tag == "*":
            return DEFAULT
        if tag in CATALOGUE:
            return tag
    return DEFAULT


def strings(lang: str) -> dict[str, str]:
    """The strings of `lang` (English for an unknown language)."""
    return CATALOGUE.get(lang, CATALOGUE[DEFAULT])


def chat_locale(request: Request) -> ChatLocale:
    """The chat page's strings in the language `choose(request)` picks."""
    return CHAT_LOCALES[choose(request)]
