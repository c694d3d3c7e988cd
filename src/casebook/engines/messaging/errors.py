"""The messaging engine's domain errors (problem+json types under /problems/messaging/…).

A conversation the caller is not in is answered exactly like one that does not exist (404), so
nobody can probe which conversations exist.
"""

from __future__ import annotations

from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem


class ConversationNotFound(NotFound):
    type_ = "messaging/conversation-not-found"
    title = "Conversation not found"


class MessageNotFound(NotFound):
    type_ = "messaging/message-not-found"
    title = "Message not found"


class DeviceNotFound(NotFound):
    type_ = "messaging/device-not-found"
    title = "Device not found"


class UserNotFound(NotFound):
    type_ = "messaging/user-not-found"
    title = "User not found"


class NotAllowed(Forbidden):
    """The caller is a member but their role does not allow this (post in a channel, kick…)."""

    type_ = "messaging/not-allowed"
    title = "Not allowed in this conversation"


class InvalidMessage(InvalidInput):
    type_ = "messaging/invalid-message"
    title = "The message is not valid"


class MissingEnvelopes(InvalidInput):
    """An end-to-end message must carry one envelope for every live device of every member,
    and none for any other device. `missing` / `unexpected` name the devices (strings)."""

    type_ = "messaging/envelopes-mismatch"
    title = "Envelopes do not match the members' devices"


class EditWindowClosed(Conflict):
    type_ = "messaging/edit-window-closed"
    title = "The message can no longer be edited"


class MemberLimitReached(Conflict):
    type_ = "messaging/member-limit"
    title = "The conversation is full"


class AlreadyMember(Conflict):
    type_ = "messaging/already-member"
    title = "Already a member"


class HandleTaken(Conflict):
    type_ = "messaging/handle-taken"
    title = "The public handle is taken"


class InvalidOperation(Conflict):
    """The request is well formed but the conversation's state forbids it (leave a direct chat,
    the owner leaving without handing over…)."""

    type_ = "messaging/invalid-operation"
    title = "Not possible in this conversation"


class WriterClosed(Problem):
    """The process is shutting down and takes no new messages; the client retries elsewhere."""

    status = 503
    type_ = "messaging/shutting-down"
    title = "This server is shutting down"
