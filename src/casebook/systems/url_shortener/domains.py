"""Custom short domains: claim a host, prove control of it, then serve `/<code>` on it.

Proof of control: the domain serves the claim's verification token as the body of
`http://<host>/.well-known/casebook-verify` (status 200, at most 1 KiB, surrounding whitespace
ignored). Casebook fetches it with no redirects followed and a short timeout. A DNS TXT record
(`_casebook-verify.<host>` holding the token) is the documented alternative for hosts without a
web server, but is not implemented: this deployment has no resolver to test it against.

The fetch goes to an address picked by `resolve` (by default the system resolver, refusing
private, loopback and link-local addresses so a claim cannot make Casebook probe its own network)
with the claimed host in the `Host` header. Tests inject a resolver that points at a real HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

from casebook.platform.errors import Problem

PROOF_PATH = "/.well-known/casebook-verify"
MAX_PROOF_BYTES = 1024

Resolve = Callable[[str], Awaitable[tuple[str, int]]]
"""Host name → (IP address, port) to fetch the proof from."""


class VerificationFailed(Problem):
    status = 422
    type_ = "url-shortener/domain-verification-failed"
    title = "The domain could not be verified"


async def resolve_public_address(host: str) -> tuple[str, int]:
    """The first public address of `host` on port 80.

    Raises VerificationFailed when the name does not resolve or resolves only to private,
    loopback, link-local or otherwise non-global addresses.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise VerificationFailed(f"{host} does not resolve: {exc.strerror or exc}.") from None
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address.is_global:
            return str(address), 80
    raise VerificationFailed(f"{host} resolves only to non-public addresses; refusing to fetch.")


class DomainVerifier:
    """Fetches a claimed domain's proof file. One HTTP request per `fetch_proof`."""

    def __init__(
        self,
        timeout: float,
        resolve: Resolve = resolve_public_address,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.resolve = resolve
        self.transport = transport

    async def check(self, host: str, token: str) -> None:
        """Return when `host` serves `token` at PROOF_PATH; raise VerificationFailed otherwise,
        saying what was found instead."""
        address, port = await self.resolve(host)
        netloc = f"[{address}]" if ":" in address else address
        url = f"http://{netloc}:{port}{PROOF_PATH}"
        try:
            async with (
                httpx.AsyncClient(
                    transport=self.transport, timeout=self.timeout, follow_redirects=False
                ) as client,
                client.stream("GET", url, headers={"Host": host}) as response,
            ):
                if response.status_code != 200:
                    raise VerificationFailed(
                        f"http://{host}{PROOF_PATH} answered {response.status_code}, not 200."
                    )
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PROOF_BYTES:
                        raise VerificationFailed(
                            f"http://{host}{PROOF_PATH} is longer than {MAX_PROOF_BYTES} bytes."
                        )
        except httpx.HTTPError as exc:
            raise VerificationFailed(
                f"Could not fetch http://{host}{PROOF_PATH}: {type(exc).__name__}."
            ) from None
        if body.strip() != token.encode():
            raise VerificationFailed(
                f"http://{host}{PROOF_PATH} does not contain this claim's verification token."
            )
