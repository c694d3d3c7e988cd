"""Substack's problems (RFC 9457 types under /problems/substack-…)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound


class PublicationNotFound(NotFound):
    type_ = "substack-publication-not-found"
    title = "No such publication"


class PostNotFound(NotFound):
    type_ = "substack-post-not-found"
    title = "No such post"


class NotAnAuthor(Forbidden):
    type_ = "substack-not-an-author"
    title = "Only the publication's authors may do this"


class SlugTaken(Conflict):
    type_ = "substack-slug-taken"
    title = "That publication address is taken"


class AlreadySubscribed(Conflict):
    type_ = "substack-already-subscribed"
    title = "You already have this subscription"


class NotSubscribed(NotFound):
    type_ = "substack-not-subscribed"
    title = "You have no such subscription"


class NoPaidPlans(InvalidInput):
    type_ = "substack-no-paid-plans"
    title = "This publication does not offer paid subscriptions"


class InvalidSchedule(InvalidInput):
    type_ = "substack-invalid-schedule"
    title = "A post can only be scheduled in the future"


class AlreadyPublished(Conflict):
    type_ = "substack-already-published"
    title = "The post is already published"


class InvalidToken(NotFound):
    type_ = "substack-invalid-token"
    title = "The link is not valid"


class InvalidBounce(InvalidInput):
    type_ = "substack-invalid-bounce"
    title = "Not a delivery status notification for a Substack e-mail"


class CardDeclined(Conflict):
    status = 402
    type_ = "substack-card-declined"
    title = "The card was declined"


class InvalidForm(InvalidInput):
    type_ = "substack-invalid-form"
    title = "The form has a mistake"
