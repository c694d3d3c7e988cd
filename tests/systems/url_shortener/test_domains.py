"""Custom short domains: claim a host, prove control by a DNS TXT record (checked against a real
DNS server, dnsmasq, on 127.0.0.1) or by serving a token over HTTP (a real HTTP server on
127.0.0.1), then `/<code>` on that Host redirects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from casebook.systems.url_shortener.domains import (
    PROOF_PATH,
    VerificationFailed,
    parse_nameserver,
    resolve_public_address,
    txt_name,
)
from casebook.systems.url_shortener.runtime import Shortener
from tests.servers import DNSMASQ_HINT, DnsServer, free_port
from tests.systems.url_shortener.conftest import API, Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "custom-domains")

HOST = "go.brand.example"


@dataclass
class ProofServer:
    """A real HTTP/1.1 server on 127.0.0.1 answering per Host header."""

    port: int = 0
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        host = next(
            line.split(":", 1)[1].strip() for line in head if line.lower().startswith("host:")
        )
        self.seen.append((host, path))
        status, body = (
            self.answers.get(host, (404, b"no such site")) if path == PROOF_PATH else (404, b"")
        )
        head_out = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\nconnection: close"
        writer.write(head_out.encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()


@pytest.fixture(autouse=True)
def dns_server(configure: Callable[..., object]) -> Iterator[DnsServer | None]:
    """dnsmasq on 127.0.0.1, authoritative for brand.example with no records until a test sets
    some, asked by the verifier. Without dnsmasq, TXT lookups go to a closed loopback port and
    time out (tests of the HTTP proof still pass; `dns` skips the DNS ones)."""
    try:
        server = DnsServer(
            "brand.example", on_address=lambda nameserver: configure(dns_nameservers=[nameserver])
        )
    except FileNotFoundError:
        configure(dns_nameservers=[f"127.0.0.1:{free_port()}"], domain_verify_timeout_seconds=1)
        yield None
        return
    server.serve({})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dns(dns_server: DnsServer | None) -> DnsServer:
    """The DNS server, for tests of the DNS proof (skipped without dnsmasq)."""
    if dns_server is None:
        pytest.skip(DNSMASQ_HINT)
    return dns_server


@pytest.fixture
def nowhere(state: Shortener) -> None:
    """No web server answers for any claimed host."""
    port = free_port()

    async def closed_port(host: str) -> tuple[str, int]:
        return "127.0.0.1", port

    state.verifier.resolve = closed_port


@pytest.fixture
async def proof_server(state: Shortener) -> AsyncIterator[ProofServer]:
    server = ProofServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]

    async def to_local_server(host: str) -> tuple[str, int]:
        return "127.0.0.1", server.port

    state.verifier.resolve = to_local_server
    async with listener:
        yield server


async def claim(client: httpx.AsyncClient, account: Account, host: str = HOST) -> dict[str, object]:
    response = await client.post(f"{API}/domains", json={"host": host}, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def verified(
    client: httpx.AsyncClient, account: Account, server: ProofServer, host: str = HOST
) -> None:
    domain = await claim(client, account, host)
    server.answers[host] = (200, f"{domain['verification_token']}\n".encode())
    response = await client.post(f"{API}/domains/{host}/verify", headers=account.headers)
    assert response.status_code == 200, response.text


async def test_a_claim_gets_a_token_and_is_unverified(
    client: httpx.AsyncClient, alice: Account
) -> None:
    domain = await claim(client, alice, "Go.Brand.Example.")
    assert domain["host"] == HOST
    assert domain["verified"] is False
    assert str(domain["verification_token"]).startswith("casebook-verify-")
    assert domain["proof_url"] == f"http://{HOST}{PROOF_PATH}"
    again = await claim(client, alice)
    assert again["verification_token"] == domain["verification_token"]
    listed = (await client.get(f"{API}/domains", headers=alice.headers)).json()
    assert [d["host"] for d in listed] == [HOST]


@pytest.mark.parametrize(
    "host", ["localhost", "192.168.1.10", "-bad-.example", "a..b", "x" * 64 + ".com", "127.0.0.1"]
)
async def test_malformed_hosts_are_refused(
    client: httpx.AsyncClient, alice: Account, host: str
) -> None:
    response = await client.post(f"{API}/domains", json={"host": host}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/url-shortener/invalid-host"


async def test_our_own_short_host_cannot_be_claimed(
    client: httpx.AsyncClient, alice: Account, configure: Callable[..., object]
) -> None:
    configure(short_hosts=["sho.rt.example"])
    response = await client.post(
        f"{API}/domains", json={"host": "sho.rt.example"}, headers=alice.headers
    )
    assert response.status_code == 422


async def test_serving_the_token_verifies_the_domain(
    client: httpx.AsyncClient, alice: Account, proof_server: ProofServer
) -> None:
    domain = await claim(client, alice)
    proof_server.answers[HOST] = (200, str(domain["verification_token"]).encode())
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True
    assert proof_server.seen == [(HOST, PROOF_PATH)]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [((200, b"casebook-verify-someone-else"), "does not contain"), ((404, b""), "answered 404")],
)
async def test_a_wrong_proof_is_refused_with_what_was_found(
    client: httpx.AsyncClient,
    alice: Account,
    proof_server: ProofServer,
    answer: tuple[int, bytes],
    expected: str,
) -> None:
    await claim(client, alice)
    proof_server.answers[HOST] = answer
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/url-shortener/domain-verification-failed"
    assert expected in problem["detail"]
    assert (await client.get(f"{API}/domains", headers=alice.headers)).json()[0][
        "verified"
    ] is False


@pytest.mark.usefixtures("nowhere")
async def test_an_unreachable_domain_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    await claim(client, alice)
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "Could not fetch" in detail
    assert detail.startswith("DNS: ")  # both proofs are reported
    assert "_casebook-verify.go.brand.example" in detail


@pytest.mark.usefixtures("nowhere")
async def test_a_txt_record_holding_the_token_verifies_the_domain(
    client: httpx.AsyncClient, alice: Account, dns: DnsServer
) -> None:
    domain = await claim(client, alice)
    token = str(domain["verification_token"])
    assert domain["txt_name"] == txt_name(HOST) == f"_casebook-verify.{HOST}"
    # Another TXT record at the same name (say, an old claim's) does not get in the way.
    dns.serve({txt_name(HOST): [["casebook-verify-an-old-claim"], [token]]})
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True


@pytest.mark.usefixtures("nowhere")
async def test_a_token_split_into_character_strings_is_joined(
    client: httpx.AsyncClient, alice: Account, dns: DnsServer
) -> None:
    token = str((await claim(client, alice))["verification_token"])
    dns.serve({txt_name(HOST): [[token[:20], token[20:]]]})
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ({txt_name(HOST): [["casebook-verify-someone-else"]]}, "none of them this claim's token"),
        ({f"_other.{HOST}": [["x"]]}, f"{txt_name(HOST)} does not exist"),
        ({txt_name("elsewhere.brand.example"): [["x"]]}, "does not exist"),
    ],
)
@pytest.mark.usefixtures("nowhere")
async def test_a_wrong_or_missing_txt_record_is_refused_with_what_was_found(
    client: httpx.AsyncClient,
    alice: Account,
    dns: DnsServer,
    records: dict[str, list[list[str]]],
    expected: str,
) -> None:
    await claim(client, alice)
    dns.serve(records)
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("DNS: ")
    assert expected in detail
    assert "HTTP: Could not fetch" in detail
    listed = (await client.get(f"{API}/domains", headers=alice.headers)).json()
    assert listed[0]["verified"] is False


async def test_the_http_proof_still_works_when_dns_has_no_record(
    client: httpx.AsyncClient, alice: Account, dns: DnsServer, proof_server: ProofServer
) -> None:
    domain = await claim(client, alice)
    proof_server.answers[HOST] = (200, str(domain["verification_token"]).encode())
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=alice.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("9.9.9.9", ("9.9.9.9", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
    ],
)
def test_nameserver_specs(spec: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == parsed


@pytest.mark.parametrize("spec", ["dns.example", "1.2.3.4:0", "1.2.3.4:x", "[::1]x"])
def test_bad_nameserver_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(spec)


async def test_the_default_resolver_refuses_private_addresses() -> None:
    with pytest.raises(VerificationFailed):
        await resolve_public_address("localhost")


async def test_links_on_a_verified_domain_redirect_by_host_header(
    client: httpx.AsyncClient, alice: Account, proof_server: ProofServer
) -> None:
    await verified(client, alice, proof_server)
    created = await shorten(client, alice.headers, url="https://brand.example/spring", domain=HOST)
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["short_url"] == f"http://{HOST}/{link['code']}"
    assert link["domain"] == HOST
    response = await client.get(f"/{link['code']}", headers={"host": f"{HOST}:80"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://brand.example/spring"
    # The same code is not a main-host link, and the domain's paths are only its links.
    assert (await client.get(f"/s/{link['code']}")).status_code == 404
    assert (await client.get(f"/{link['code']}")).status_code == 404
    assert (await client.get("/no.such.code", headers={"host": HOST})).status_code == 404
    expanded = await client.get(f"{API}/expand", params={"short_url": link["short_url"]})
    assert expanded.json()["url"] == "https://brand.example/spring"
    mine = await client.get(
        f"{API}/links/{link['code']}", params={"domain": HOST}, headers=alice.headers
    )
    assert mine.status_code == 200


async def test_an_alias_is_unique_per_domain(
    client: httpx.AsyncClient, alice: Account, proof_server: ProofServer
) -> None:
    await verified(client, alice, proof_server)
    main = await shorten(client, alice.headers, url="https://example.com/main", alias="promo")
    custom = await shorten(
        client, alice.headers, url="https://example.com/custom", alias="promo", domain=HOST
    )
    assert main.status_code == custom.status_code == 201
    assert (await client.get("/promo", headers={"host": HOST})).headers[
        "location"
    ] == "https://example.com/custom"
    assert (await client.get("/s/promo")).headers["location"] == "https://example.com/main"


async def test_an_unverified_or_foreign_domain_cannot_carry_links(
    client: httpx.AsyncClient, alice: Account, bob: Account, proof_server: ProofServer
) -> None:
    await claim(client, alice, "unproven.example")
    unproven = await shorten(
        client, alice.headers, url="https://example.com/", domain="unproven.example"
    )
    assert unproven.status_code == 422
    assert unproven.json()["type"] == "/problems/url-shortener/domain-not-usable"
    await verified(client, alice, proof_server)
    foreign = await shorten(client, bob.headers, url="https://example.com/", domain=HOST)
    assert foreign.status_code == 422
    assert (await client.get("/anything", headers={"host": "unproven.example"})).status_code == 404


async def test_a_host_verified_by_one_account_cannot_be_verified_by_another(
    client: httpx.AsyncClient, alice: Account, bob: Account, proof_server: ProofServer
) -> None:
    await verified(client, alice, proof_server)
    theirs = await claim(client, bob)
    proof_server.answers[HOST] = (200, str(theirs["verification_token"]).encode())
    response = await client.post(f"{API}/domains/{HOST}/verify", headers=bob.headers)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/url-shortener/domain-taken"


async def test_deleting_a_domain_removes_its_links(
    client: httpx.AsyncClient, alice: Account, bob: Account, proof_server: ProofServer
) -> None:
    await verified(client, alice, proof_server)
    code = (await shorten(client, alice.headers, url="https://example.com/d", domain=HOST)).json()[
        "code"
    ]
    assert (await client.get(f"/{code}", headers={"host": HOST})).status_code == 302
    assert (await client.delete(f"{API}/domains/{HOST}", headers=bob.headers)).status_code == 404
    assert (await client.delete(f"{API}/domains/{HOST}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/{code}", headers={"host": HOST})).status_code == 404
    assert (await client.get(f"{API}/domains", headers=alice.headers)).json() == []


@pytest.mark.usefixtures("nowhere")
async def test_a_host_too_long_for_the_txt_name_is_refused_not_a_server_error(
    client: httpx.AsyncClient, alice: Account, dns: DnsServer
) -> None:
    labels = ["a" * 63, "b" * 63, "c" * 63, "d" * 40, "brand", "example"]
    host = ".".join(labels)  # 246 characters: a valid host, but 263 with the TXT prefix
    await claim(client, alice, host)
    response = await client.post(f"{API}/domains/{host}/verify", headers=alice.headers)
    assert response.status_code == 422, response.text
    assert "cannot be looked up" in response.json()["detail"]
