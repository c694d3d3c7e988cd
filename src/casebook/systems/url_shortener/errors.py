"""The URL Shortener's problems (RFC 9457 types under `/problems/url-shortener/…`)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Gone, InvalidInput, NotFound, Problem, Unauthorized


class LinkNotFound(NotFound):
    type_ = "url-shortener/link-not-found"
    title = "No such short link"


class LinkExpired(Gone):
    type_ = "url-shortener/link-expired"
    title = "This short link has expired"


class LinkDeleted(Gone):
    type_ = "url-shortener/link-deleted"
    title = "This short link was deleted"


class AliasTaken(Conflict):
    type_ = "url-shortener/alias-taken"
    title = "This alias is taken"


class InvalidAlias(InvalidInput):
    type_ = "url-shortener/invalid-alias"
    title = "This alias cannot be used"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail, reason=reason)


class InvalidExpiry(InvalidInput):
    type_ = "url-shortener/invalid-expiry"
    title = "Invalid expiry"


class DomainNotUsable(InvalidInput):
    type_ = "url-shortener/domain-not-usable"
    title = "Not one of your verified domains"


class DomainNotFound(NotFound):
    type_ = "url-shortener/domain-not-found"
    title = "No such domain"


class DomainTaken(Conflict):
    type_ = "url-shortener/domain-taken"
    title = "This domain is already verified by another account"


class DomainLimit(Conflict):
    type_ = "url-shortener/domain-limit"
    title = "Too many domains"


class SignInRequired(Unauthorized):
    type_ = "url-shortener/sign-in-required"
    title = "Sign in to use this option"


class RedirectFailed(Problem):
    """A redirect whose lookup failed (database or Redis unreachable on a cache miss); logged."""

    status = 500
    type_ = "internal-error"
    title = "Internal error"

    def __init__(self) -> None:
        super().__init__("The short link could not be looked up; the error has been logged.")
