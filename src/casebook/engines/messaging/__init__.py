"""The realtime messaging engine: ordered conversations, delivery over WebSocket with resume,
receipts, presence, attachments, search, push, and end-to-end encrypted envelopes.

Viber, Telegram and Instant Messenger are built on it; see docs/engines/messaging.md.
"""
