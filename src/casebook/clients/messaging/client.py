"""An async HTTP client of the messaging engine's API (`/api/<slug>/…`), with end-to-end
encryption on top when the client holds a `DeviceCrypto`.

    async with httpx.AsyncClient(base_url="http://127.0.0.1:8000") as http:
        alice = MessagingClient(http, "instant-messenger")
        await alice.register("alice@example.com", "secret-password", "Alice")
        await alice.login("alice@example.com", "secret-password")
        await alice.add_device("laptop")
        await alice.enable_e2e()                      # new identity, keys published
        chat = await alice.create_direct(bob_id, e2e=True)
        await alice.send_encrypted(chat["id"], "hi Bob")

`send_encrypted` lists the conversation's members and their E2E devices, claims a bundle for
each device it has no session with yet, encrypts the message once per device (the sender's own
other devices included) and posts the envelopes; if a device appeared meanwhile, the server
answers `messaging/envelopes-mismatch` and the client encrypts for it and retries with the same
client id (so the message is stored once). `read` fetches the history with this device's
envelopes and decrypts them.

The plaintext of what this device sent, and of what it decrypted, stays in this object's memory
(a ratchet key works once, so a message cannot be decrypted twice); a real client would keep it in
its local database.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from casebook.clients.messaging.e2e import DecryptionError, DeviceCrypto, PeerBundle

ENVELOPES_MISMATCH = "/problems/messaging/envelopes-mismatch"
PREKEY_LOW_WATERMARK = 20
PREKEY_BATCH = 100


class ApiError(Exception):
    """The server answered with a problem (4xx/5xx); `problem` is its problem+json body."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.text}
        if not isinstance(problem, dict):
            problem = {"title": str(problem)}
        self.status = response.status_code
        self.problem: dict[str, Any] = problem
        super().__init__(f"{self.status} {problem.get('type', '')}: {problem.get('detail', '')}")


@dataclass(frozen=True)
class Plaintext:
    """A decrypted end-to-end message."""

    conversation_id: str
    seq: int
    sender_id: str
    sender_device_id: str
    client_id: str
    body: str | None
    data: dict[str, Any] | None


class MessagingClient:
    """One user on one device, talking to the engine of `system` over `http` (an
    `httpx.AsyncClient` whose base URL is the server; the ASGI transport works too)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        system: str = "instant-messenger",
        *,
        token: str | None = None,
        device_id: int | None = None,
        crypto: DeviceCrypto | None = None,
        prefix: str | None = None,
    ) -> None:
        self.http = http
        self.system = system
        self.prefix = prefix or f"/api/{system}"  # a system may mount the engine deeper
        self.token = token
        self.user_id: int | None = None
        self.device_id = device_id
        self.crypto = crypto
        self._plaintexts: dict[tuple[str, str], Plaintext] = {}
        """(conversation id, client id) → plaintext, for what this device sent or decrypted."""

    # Transport

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response)
        return None if response.status_code == 204 else response.json()

    async def _engine(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._call(method, self.prefix + path, **kwargs)

    # Accounts and devices

    async def register(self, email: str, password: str, display_name: str) -> int:
        """Create the account (`/api/auth/register`); returns the user id."""
        body = {"email": email, "password": password, "display_name": display_name}
        created = await self._call("POST", "/api/auth/register", json=body)
        self.user_id = int(created["id"])
        return self.user_id

    async def login(self, email: str, password: str) -> None:
        """Log in (`/api/auth/login`); later calls carry the access token."""
        tokens = await self._call(
            "POST", "/api/auth/login", json={"email": email, "password": password}
        )
        self.token = tokens["access_token"]

    async def add_device(self, name: str) -> int:
        """Register a messaging device; the first one becomes this client's device."""
        device = await self._engine("POST", "/devices", json={"name": name})
        device_id = int(device["id"])
        if self.user_id is None:
            self.user_id = int(device["user_id"])
        if self.device_id is None:
            self.device_id = device_id
        return device_id

    async def devices(self) -> list[dict[str, Any]]:
        """The user's devices."""
        listed = await self._engine("GET", "/devices")
        items: list[dict[str, Any]] = listed["items"]
        return items

    async def revoke_device(self, device_id: int) -> None:
        await self._engine("DELETE", f"/devices/{device_id}")

    # Conversations and plain messages

    async def create_direct(self, user_id: int | str, *, e2e: bool = False) -> dict[str, Any]:
        """The direct chat with `user_id` (a secret one with `e2e`), created if needed."""
        body = {"kind": "direct", "user_id": str(user_id), "e2e": e2e}
        chat: dict[str, Any] = await self._engine("POST", "/conversations", json=body)
        return chat

    async def create_group(
        self, title: str, members: list[int | str], kind: str = "group"
    ) -> dict[str, Any]:
        body = {"kind": kind, "title": title, "members": [str(m) for m in members]}
        group: dict[str, Any] = await self._engine("POST", "/conversations", json=body)
        return group

    async def members(self, conversation_id: str) -> list[str]:
        """Every member's user id (follows the pages)."""
        users: list[str] = []
        after: str | None = None
        while True:
            params = {"limit": 200, **({"after": after} if after else {})}
            page = await self._engine(
                "GET", f"/conversations/{conversation_id}/members", params=params
            )
            users += [m["user_id"] for m in page["items"]]
            after = page["next_after"]
            if after is None:
                return users

    async def send_text(
        self, conversation_id: str, body: str, client_id: str | None = None
    ) -> dict[str, Any]:
        payload = {"client_id": client_id or secrets.token_hex(8), "kind": "text", "body": body}
        if self.device_id is not None:
            payload["device_id"] = str(self.device_id)
        sent: dict[str, Any] = await self._engine(
            "POST", f"/conversations/{conversation_id}/messages", json=payload
        )
        return sent

    async def history(
        self, conversation_id: str, *, after: int = 0, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Every message after seq `after`, oldest first, with this device's envelopes."""
        messages: list[dict[str, Any]] = []
        cursor = after
        while True:
            params: dict[str, Any] = {"after": cursor, "limit": limit}
            if self.device_id is not None:
                params["device_id"] = self.device_id
            page = await self._engine(
                "GET", f"/conversations/{conversation_id}/messages", params=params
            )
            messages += page["items"]
            if page["next_after"] is None:
                return messages
            cursor = page["next_after"]

    # End-to-end encryption

    def _require_crypto(self) -> tuple[DeviceCrypto, int]:
        if self.crypto is None or self.device_id is None:
            raise RuntimeError("add a device and call enable_e2e() first")
        return self.crypto, self.device_id

    async def enable_e2e(
        self, crypto: DeviceCrypto | None = None, one_time_prekeys: int = PREKEY_BATCH
    ) -> dict[str, Any]:
        """Give this device an identity (or use `crypto`) and publish its keys."""
        if self.device_id is None:
            raise RuntimeError("add a device first")
        self.crypto = crypto or DeviceCrypto.create(one_time_prekeys)
        status: dict[str, Any] = await self._engine(
            "PUT", f"/keys/devices/{self.device_id}", json=self.crypto.publication()
        )
        return status

    async def replenish_prekeys(
        self, low: int = PREKEY_LOW_WATERMARK, batch: int = PREKEY_BATCH
    ) -> int:
        """Upload `batch` new one-time prekeys when the server holds fewer than `low`;
        returns how many the server holds afterwards."""
        crypto, device_id = self._require_crypto()
        status = await self._engine("GET", f"/keys/devices/{device_id}")
        if status["one_time_prekeys"] >= low:
            return int(status["one_time_prekeys"])
        added = await self._engine(
            "POST",
            f"/keys/devices/{device_id}/one-time-prekeys",
            json={"one_time_prekeys": crypto.generate_one_time_prekeys(batch)},
        )
        return int(added["one_time_prekeys"])

    async def _targets(self, user_ids: list[str]) -> tuple[list[int], dict[int, PeerBundle]]:
        """Every device to encrypt for (the users' E2E devices but this one), having pinned
        their identity keys, and a claimed bundle for each device this one has no session with.
        O(users) requests once sessions exist, one more per user with new devices."""
        crypto, own = self._require_crypto()
        targets: list[int] = []
        bundles: dict[int, PeerBundle] = {}
        for user_id in user_ids:
            listed = await self._engine("GET", f"/keys/users/{user_id}")
            fresh = []
            for device in listed["devices"]:
                device_id = int(device["device_id"])
                if device_id == own:
                    continue
                crypto.trust(device_id, base64.b64decode(device["identity_key"]))
                targets.append(device_id)
                if not crypto.has_session(device_id):
                    fresh.append(str(device_id))
            if fresh:
                claimed = await self._engine(
                    "POST", f"/keys/users/{user_id}/bundles", json={"device_ids": fresh}
                )
                bundles.update(
                    (int(b["device_id"]), PeerBundle.from_json(b)) for b in claimed["devices"]
                )
        return targets, bundles

    async def send_encrypted(
        self,
        conversation_id: str,
        body: str | None,
        data: dict[str, Any] | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Encrypt `body`/`data` for every device in the conversation and send it; returns the
        stored message's view. Raises ApiError, UntrustedIdentity."""
        crypto, own = self._require_crypto()
        client_id = client_id or secrets.token_hex(8)
        plaintext = json.dumps(
            {"conversation_id": conversation_id, "client_id": client_id, "body": body, "data": data}
        ).encode()
        members = await self.members(conversation_id)
        for _ in range(3):
            targets, bundles = await self._targets(members)
            envelopes = {
                str(device): base64.b64encode(
                    await crypto.encrypt(device, plaintext, bundles.get(device))
                ).decode()
                for device in targets
            }
            try:
                sent: dict[str, Any] = await self._engine(
                    "POST",
                    f"/conversations/{conversation_id}/messages",
                    json={
                        "client_id": client_id,
                        "kind": "encrypted",
                        "device_id": str(own),
                        "envelopes": envelopes,
                    },
                )
            except ApiError as error:
                # A device joined or left between listing and sending: list again and retry.
                if error.problem.get("type") != ENVELOPES_MISMATCH:
                    raise
                continue
            self._plaintexts[(conversation_id, client_id)] = Plaintext(
                conversation_id, sent["seq"], sent["sender_id"], str(own), client_id, body, data
            )
            return sent
        raise RuntimeError("the conversation's devices kept changing; message not sent")

    async def decrypt(self, message: dict[str, Any]) -> Plaintext:
        """The plaintext of an E2E message view (from `history` or a socket event) addressed to
        this device. Raises DecryptionError (tampered, replayed into another conversation or
        message, or no envelope for this device), UntrustedIdentity."""
        crypto, _ = self._require_crypto()
        key = (message["conversation_id"], message["client_id"])
        known = self._plaintexts.get(key)
        if known is not None and known.sender_id == message["sender_id"]:
            return known
        if message.get("ciphertext") is None:
            raise DecryptionError("no envelope for this device in this message")
        if message.get("sender_device_id") is None:
            raise DecryptionError("the message does not name its sending device")
        raw = await crypto.decrypt(
            int(message["sender_device_id"]), base64.b64decode(message["ciphertext"])
        )
        try:
            content = json.loads(raw)
        except ValueError as error:
            raise DecryptionError("the plaintext is not a message") from error
        # Bind the envelope to where the server put it: a relayed copy elsewhere is refused.
        if (content.get("conversation_id"), content.get("client_id")) != key:
            raise DecryptionError("the envelope belongs to another message")
        plain = Plaintext(
            message["conversation_id"],
            message["seq"],
            message["sender_id"],
            message["sender_device_id"],
            message["client_id"],
            content.get("body"),
            content.get("data"),
        )
        self._plaintexts[key] = plain
        return plain

    async def read(self, conversation_id: str, *, after: int = 0) -> list[Plaintext]:
        """The conversation's E2E messages after seq `after`, decrypted, oldest first."""
        return [
            await self.decrypt(message)
            for message in await self.history(conversation_id, after=after)
            if message["kind"] == "encrypted" and not message["deleted"]
        ]
