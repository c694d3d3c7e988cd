"""Custom short domains: claim a host, prove control of it, then serve `/<code>` on it.

Two proofs of control; either one verifies the claim:

- **DNS**: a TXT record at `_casebook-verify.<host>` holding the claim's verification token (the
  way Vercel, GitHub Pages and Google Search Console prove domains; no web server needed). Looked
  up with dnspython through the nameservers of `dns_nameservers`, or the system's
  (`/etc/resolv.conf`) when that is empty. A record may hold several TXT strings (one per line
  of proof); any of them equal to the token is enough, and a long value split into 255-byte
  character-strings is joined first, as RFC 7208 does for SPF.
- **HTTP**: the domain serves the token as the body of `http://<host>/.well-known/casebook-verify`
  (status 200, at most 1 KiB, surrounding whitespace ignored). Casebook fetches it with no
  redirects followed and a short timeout, from an address picked by `resolve` (by default the
  system resolver, refusing private, loopback and link-local addresses so a claim cannot make
  Casebook probe its own network) with the claimed host in the `Host` header.

`DomainVerifier.check` tries DNS first, then HTTP, and when both fail says what each found.
Tests run a real DNS server (dnsmasq) and a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
import httpx

from casebook.platform.errors import Problem

PROOF_PATH = "/.well-known/casebook-verify"
MAX_PROOF_BYTES = 1024
TXT_PREFIX = "_casebook-verify"

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


async def _outcome(name: str, proof: Awaitable[None]) -> tuple[str, str | None]:
    """(`name`, None) when `proof` passes, (`name`, what it found) when it raises
    VerificationFailed."""
    try:
        await proof
    except VerificationFailed as failure:
        return name, failure.detail
    return name, None


def txt_name(host: str) -> str:
    """The DNS name whose TXT record proves `host`."""
    return f"{TXT_PREFIX}.{host}"


def parse_nameserver(spec: str) -> tuple[str, int]:
    """`"203.0.113.53"`, `"127.0.0.1:5353"` or `"[2001:db8::53]:53"` → (address, port).

    Raises ValueError for anything else."""
    spec = spec.strip()
    port = 53
    if spec.startswith("["):
        address, _, rest = spec[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"not a nameserver: {spec!r}")
            port = int(rest[1:])
    elif spec.count(":") == 1:
        address, _, port_text = spec.partition(":")
        port = int(port_text)
    else:
        address = spec
    ipaddress.ip_address(address)
    if not 0 < port < 65536:
        raise ValueError(f"not a port: {port}")
    return address, port


class DomainVerifier:
    """Checks a claimed domain's proof: one TXT lookup and one HTTP request, at the same time."""

    def __init__(
        self,
        timeout: float,
        resolve: Resolve = resolve_public_address,
        transport: httpx.AsyncBaseTransport | None = None,
        nameservers: list[str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.resolve = resolve
        self.transport = transport
        self.nameservers = list(nameservers or [])
        """`host[:port]` of the DNS servers to ask; empty: the system's resolver configuration."""

    async def check(self, host: str, token: str) -> None:
        """Return when `host` proves `token` by DNS or by HTTP; raise VerificationFailed otherwise,
        saying what each proof found instead. Both proofs run at once, so a working one answers
        without waiting for the other to time out; at most `timeout` seconds in all."""
        tasks = [
            asyncio.create_task(_outcome("DNS", self.check_dns(host, token))),
            asyncio.create_task(_outcome("HTTP", self.check_http(host, token))),
        ]
        failures: dict[str, str] = {}
        try:
            for next_done in asyncio.as_completed(tasks):
                name, failure = await next_done
                if failure is None:
                    return
                failures[name] = failure
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        raise VerificationFailed(f"DNS: {failures['DNS']} HTTP: {failures['HTTP']}")

    def _resolver(self) -> dns.asyncresolver.Resolver:
        if not self.nameservers:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise VerificationFailed(
                    "this server has no DNS resolver configured "
                    "(set CASEBOOK_URL_SHORTENER_DNS_NAMESERVERS, e.g. '[\"9.9.9.9\"]')."
                ) from None
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(spec)) for spec in self.nameservers
            ]
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        return resolver

    async def check_dns(self, host: str, token: str) -> None:
        """Return when a TXT string at `_casebook-verify.<host>` equals `token`; raise
        VerificationFailed saying what the lookup found otherwise. One DNS query (retried on
        another configured server within `timeout`)."""
        name = txt_name(host)
        resolver = self._resolver()
        try:
            answer = await resolver.resolve(name, "TXT", search=False)
        except dns.resolver.NXDOMAIN:
            raise VerificationFailed(f"{name} does not exist.") from None
        except dns.resolver.NoAnswer:
            raise VerificationFailed(f"{name} has no TXT record.") from None
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            reason = "timed out" if isinstance(exc, dns.exception.Timeout) else "failed"
            raise VerificationFailed(f"the TXT lookup of {name} {reason}.") from None
        except dns.exception.DNSException as exc:  # e.g. a name over 255 bytes with the prefix
            raise VerificationFailed(f"{name} cannot be looked up: {exc}") from None
        values = [b"".join(rdata.strings).strip() for rdata in answer]
        if token.encode() not in values:
            raise VerificationFailed(
                f"{name} has {len(values)} TXT record(s), none of them this claim's token."
            )

    async def check_http(self, host: str, token: str) -> None:
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
