"""Hacker News problems (RFC 9457 types under /problems/hacker-news/…)."""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound


class NoAccount(Forbidden):
    type_ = "hacker-news/no-account"
    title = "Choose a Hacker News username first"


class UsernameTaken(Conflict):
    type_ = "hacker-news/username-taken"
    title = "That username is taken"


class AlreadyHasAccount(Conflict):
    type_ = "hacker-news/already-has-account"
    title = "This user already has a Hacker News username"


class InvalidUsername(InvalidInput):
    type_ = "hacker-news/invalid-username"
    title = "Usernames are 2 to 15 letters, digits, dashes or underscores"


class ItemNotFound(NotFound):
    type_ = "hacker-news/item-not-found"
    title = "No such item"


class UserNotFound(NotFound):
    type_ = "hacker-news/user-not-found"
    title = "No such user"


class DuplicateUrl(Conflict):
    type_ = "hacker-news/duplicate-url"
    title = "That link was already submitted"


class ItemDead(Conflict):
    type_ = "hacker-news/item-dead"
    title = "The item is dead or deleted"


class OwnItem(Forbidden):
    type_ = "hacker-news/own-item"
    title = "You cannot vote on or flag your own item"


class NotEnoughKarma(Forbidden):
    type_ = "hacker-news/not-enough-karma"
    title = "Not enough karma"


class InvalidSubmission(InvalidInput):
    type_ = "hacker-news/invalid-submission"
    title = "The submission is not valid"


class ThreadTooDeep(InvalidInput):
    type_ = "hacker-news/thread-too-deep"
    title = "The thread is too deep to reply here"


class NotYourItem(Forbidden):
    type_ = "hacker-news/not-your-item"
    title = "Only the author may edit or delete an item"


class EditWindowClosed(Forbidden):
    type_ = "hacker-news/edit-window-closed"
    title = "The edit window has closed"
