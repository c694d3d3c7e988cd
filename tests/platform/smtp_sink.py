"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: it keeps what it receives and can be
told to refuse recipients, to ask for a login, or to drop the connection.

It runs in the test's own event loop (`loop.create_server`), so tests wait for mail with
`await sink.wait_for(n)` instead of sleeping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    connection: int
    """Which connection (1, 2, …) carried it."""


@dataclass
class SmtpSink:
    """The handler and state of one test SMTP server."""

    refuse: dict[str, str] = field(default_factory=dict)
    """Recipient address → the reply to RCPT TO (e.g. "550 5.1.1 No such user")."""
    drop_after: int | None = None
    """Close the connection instead of answering the DATA of message number drop_after + 1."""
    require_login: tuple[str, str] | None = None
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    logins: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _protocol(self) -> SMTP:
        self.connections += 1
        kwargs: dict[str, Any] = {}
        if self.require_login is not None:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        server = SMTP(self, hostname="sink.test", **kwargs)
        server.__dict__["connection_number"] = self.connections
        return server

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.require_login is not None:
            user, password = data.login.decode(), data.password.decode()
            if (user, password) == self.require_login:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_after is not None and len(self.received) >= self.drop_after:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 closing"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message,
                server.__dict__["connection_number"],
            )
        )
        async with self._changed:
            self._changed.notify_all()
        return "250 Message accepted"

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Wait until at least `count` messages have arrived; returns all of them."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received

    def to(self, address: str) -> list[EmailMessage]:
        """The messages delivered to `address`, in arrival order."""
        return [r.message for r in self.received if address in r.rcpt_tos]
