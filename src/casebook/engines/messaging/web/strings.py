"""Interface strings of the chat page, and the language a system shows them in.

The page (template and `chat.js`) shows no text of its own: every word comes from one table,
key → string, that the system chooses per request (`ChatLocale`). `ENGLISH` is the table of
record: a system that translates the page supplies a table with exactly its keys, and each
string with exactly the placeholders of its English original (`{name}` fields that the page
fills in: `chat.js` with its `t(key, values)`, the template by splitting on them). `ChatLocale`
checks both when it is built, so a system with a missing or broken translation fails at import,
never on a user's screen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

ENGLISH: Mapping[str, str] = MappingProxyType(
    {
        # Connection state
        "connecting": "Connecting…",
        "connected": "Connected",
        "reconnecting": "Reconnecting…",
        "offline": "Offline",
        "signed_out": "Signed out",
        "refused": "Refused",
        # Sidebar
        "new_chat": "New chat",
        "new_group": "New group",
        "conversations": "Conversations",
        "conversations_empty": (
            "No conversations yet. Start one with {new_chat}: search for someone who has "
            "opened this page."
        ),
        "languages": "Language",
        "untitled_group": "Untitled group",
        "direct_chat": "Direct chat",
        "you": "You",
        "unknown_user": "User {id}",
        "unread_count": "{count} unread",
        # Previews of the last message in the list
        "preview_none": "No messages yet",
        "preview_deleted": "Message deleted",
        "preview_mine": "You: {text}",
        "preview_edited": "{text} (edited)",
        "preview_encrypted": "Encrypted message",
        "attachment": "Attachment",
        "sticker": "Sticker",
        "location": "Location",
        "contact": "Contact",
        # Presence and typing
        "online": "online",
        "presence_offline": "offline",
        "last_seen": "last seen {when}",
        "typing_list": "{names} typing…",
        "typing_one": "{names} is typing…",
        "typing_many": "{names} are typing…",
        "member_count": "{count} members",
        # Thread
        "choose_conversation": "Choose a conversation",
        "left_conversation": "You are no longer in that conversation.",
        "load_older": "Load older messages",
        "messages": "Messages",
        "thread_empty": "No messages yet. Say hello.",
        "message_deleted": "This message was deleted.",
        "message_encrypted": "🔒 End-to-end encrypted: open it in an app that holds your keys.",
        "edited": "edited",
        # Receipts
        "receipt_sending": "Sending…",
        "receipt_sent": "Sent",
        "receipt_delivered": "Delivered",
        "receipt_read": "Read",
        "receipt_read_by": "Read by {count} of {total}",
        "receipt_delivered_to": "Delivered to {count} of {total}",
        # Attachments
        "attachments": "Attachments",
        "attachments_to_send": "Attachments to send",
        "attach_files": "Attach files",
        "attachment_loading": "Loading attachment…",
        "attachment_gone": "Attachment no longer available.",
        "attachment_failed": (
            "The attachment could not be loaded; reopen the conversation to retry."
        ),
        "image_preparing": "Preparing image…",
        "image": "Image",
        "file": "File",
        "file_label": "{name} ({size})",
        "size_bytes": "{size} B",
        "size_kb": "{size} KB",
        "size_mb": "{size} MB",
        "uploading": "{name} (uploading…)",
        "remove_named": "Remove {name}",
        "too_many_attachments": (
            "A message carries at most {max} attachments. Send these first, then attach the rest."
        ),
        "still_uploading": "An attachment is still uploading. Send once it has finished.",
        # Composer
        "message": "Message",
        "composer_placeholder": "Write a message (Enter sends, Shift+Enter for a new line)",
        "insert_emoji": "Insert an emoji",
        "insert_named": "Insert {emoji}",
        "emoji": "Emoji",
        "send": "Send",
        "dismiss": "Dismiss",
        "device_name": "Web browser ({platform})",
        # Starting chats
        "find_person": "Find a person by name or username",
        "people_found": "People found",
        "found_count": "{count} found.",
        "no_one_matches": (
            "No one matches “{query}”. People appear here once they have opened this chat page."
        ),
        "cancel": "Cancel",
        "group_name": "Group name",
        "add_people": "Add people",
        "members": "Members",
        "create_group": "Create group",
        "group_name_first": "Give the group a name first.",
        # Errors: what went wrong, and what the user can do about it
        "log_in": "Log in",
        "not_connected": "Not connected.",
        "connection_dropped": "The connection dropped.",
        "session_ended": "Your session has ended.",
        "error_unreachable": "The server cannot be reached.",
        "error_unexpected": "Something went wrong ({error}). Reload the page.",
        "error_offline": (
            "The server cannot be reached. Check your connection; the page keeps retrying."
        ),
        "error_session_ended": "Your session has ended. Log in again to keep chatting.",
        "error_forbidden": "{detail} Ask an admin of the conversation if you need this.",
        "error_not_found": (
            "{detail} It may have been removed or you may have left it; choose another "
            "conversation."
        ),
        "error_conflict": "{detail} Reload the conversation and try again.",
        "error_too_large": "{detail} Choose a smaller file.",
        "error_unsupported": "{detail} Attach it as a plain file instead.",
        "error_invalid": "{detail} Correct it and try again.",
        "error_rate_limited": "{detail} Wait {seconds} seconds, then try again.",
        "error_rate_limited_unknown": "{detail} Wait a few seconds, then try again.",
        "error_server": "The server failed to answer. Try again in a moment.",
        "error_other": "{detail} Try again.",
        "error_refused": (
            "The server refused this browser ({reason}). Reload the page; if it persists, "
            "log out and in again."
        ),
    }
)
"""The page's strings in English: the keys every translation must have."""


def placeholders(text: str) -> frozenset[str]:
    """The `{name}` fields of `text`."""
    return frozenset(PLACEHOLDER.findall(text))


def check_strings(strings: Mapping[str, str], lang: str) -> None:
    """Raise ValueError unless `strings` has exactly the keys of `ENGLISH` and each string the
    placeholders of its English original. O(total length of the strings)."""
    keys = set(ENGLISH)
    if set(strings) != keys:
        missing, extra = sorted(keys - set(strings)), sorted(set(strings) - keys)
        raise ValueError(f"chat strings [{lang}]: missing {missing}, unknown {extra}")
    wrong = sorted(k for k in keys if placeholders(strings[k]) != placeholders(ENGLISH[k]))
    if wrong:
        raise ValueError(f"chat strings [{lang}]: placeholders differ from English in {wrong}")


@dataclass(frozen=True)
class ChatLocale:
    """The language one request sees the chat page in.

    `lang` is its BCP 47 tag (the page's `lang` attribute and, when the system localizes, the
    `Content-Language` header); `strings` the page's table (checked on construction: raises
    ValueError as `check_strings` does); `languages` the (tag, name in that language) pairs a
    visitor may switch between with `?lang=` (empty: no switcher is shown).
    """

    lang: str
    strings: Mapping[str, str]
    languages: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        check_strings(self.strings, self.lang)

    def conversations_empty(self) -> tuple[str, str]:
        """The text around the "New chat" button's name in the empty list's hint, which the
        template sets in bold."""
        before, _, after = self.strings["conversations_empty"].partition("{new_chat}")
        return before, after


DEFAULT_LOCALE = ChatLocale("en", ENGLISH)
"""The page of a system that does not translate it."""
