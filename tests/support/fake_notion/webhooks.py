"""Notion's integration webhooks, sent by the fake Notion to the service under test.

Follows Notion's public sources:
- https://developers.notion.com/reference/webhooks: the `{"verification_token": …}` handshake and the
  `X-Notion-Signature: sha256=<hex HMAC-SHA256 keyed by the token over the raw body>` header on every request;
- https://developers.notion.com/reference/webhooks-events-delivery: the event envelope, event types and their `data`,
  aggregation of high-frequency events per entity, no ordering guarantee, up to 8 attempts with `attempt_number`;
- makenotion/notion-sdk-js src/webhooks.ts (`signWebhookPayload`: the HMAC covers the body bytes exactly as sent,
  and its PR #722 says the handshake is signed the same way) and src/api-endpoints/webhooks.ts (payload types).

Notion sends compact UTF-8 JSON; events carry ids, never content. Delivery is explicit (`deliver`, `drain`) so
tests stay deterministic: nothing sleeps, and "later" is the next call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Callable, Collection
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from tests.support.fake_notion.checks import JsonObj
from tests.support.fake_notion.rendering import ts
from tests.support.fake_notion.store import Change, Store

MAX_ATTEMPTS = 8
API_VERSIONS = ("2025-09-03", "2026-03-11")
# Merged per entity within a short window (the docs' "Aggregated" column); comment and lock events never are.
AGGREGATED = frozenset(
    {
        "page.created",
        "page.properties_updated",
        "page.content_updated",
        "page.moved",
        "page.deleted",
        "page.undeleted",
        "data_source.content_updated",
        "data_source.schema_updated",
    }
)
# Created, deleted and undeleted in quick succession become the one event that tells the final state, or nothing
# when the page ends where it started; these are each event's trash state before and after.
LIFECYCLE = {"page.created": ("absent", "live"), "page.deleted": ("live", "trash"), "page.undeleted": ("trash", "live")}
FINAL = {(before, after): kind for kind, (before, after) in LIFECYCLE.items()}
Select = Callable[[JsonObj], bool]


def signature(body: bytes, verification_token: str) -> str:
    return "sha256=" + hmac.new(verification_token.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: JsonObj) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(
    *,
    id: str,
    timestamp: str,
    workspace_id: str,
    workspace_name: str,
    subscription_id: str,
    integration_id: str,
    type: str,
    authors: list[JsonObj],
    attempt_number: int,
    api_version: str,
    entity: JsonObj,
    data: JsonObj,
) -> JsonObj:
    """An event's body, keys in the order of Notion's samples."""
    return {
        "id": id,
        "timestamp": timestamp,
        "workspace_id": workspace_id,
        "workspace_name": workspace_name,
        "subscription_id": subscription_id,
        "integration_id": integration_id,
        "type": type,
        "authors": authors,
        "attempt_number": attempt_number,
        "api_version": api_version,
        "entity": entity,
        "data": data,
    }


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    status: int | None  # None: the connection failed or timed out

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def payload(self) -> JsonObj:
        loaded: JsonObj = json.loads(self.body)
        return loaded


@dataclass
class _Event:
    id: str
    slot: str
    entity: JsonObj
    data: JsonObj
    authors: list[JsonObj]
    first: datetime
    last: datetime
    states: tuple[str, str] | None
    attempt: int = 1
    # Open until Notion sends it: only then can later changes still merge into it.
    open: bool = True

    @property
    def type(self) -> str | None:
        return self.slot if self.states is None else FINAL.get(self.states)

    def merge(self, change: Change) -> None:
        if change.author not in self.authors:
            self.authors.append(change.author)
        self.last = change.at
        if self.states is not None:
            self.states = (self.states[0], LIFECYCLE[change.type][1])
        for key, value in change.data.items():
            if key not in ("updated_properties", "updated_blocks"):
                self.data[key] = value
                continue
            # Union by id; for schema changes the first action on a property stands.
            known = self.data.setdefault(key, [])
            seen = {_item_id(item) for item in known}
            known += [item for item in value if _item_id(item) not in seen]


def _item_id(item: Any) -> Any:
    return item["id"] if isinstance(item, dict) else item


@dataclass
class NotionWebhooks:
    """One webhook subscription of the fake's integration, POSTing to `url` (the service's webhook route).

    It hears every change the fake makes (API writes authored by the integration's bot, `person_*` changes by
    that person) and keeps them as pending events until `deliver`/`drain` sends them.
    """

    fake: Store
    url: str
    _: KW_ONLY
    verification_token: str
    subscription_id: str = ""
    integration_id: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    api_version: str = "2026-03-11"
    types: Collection[str] | None = None  # the subscribed event types; None: all of them
    window: timedelta = timedelta(seconds=60)
    timeout: float = 10.0
    seed: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    lost: list[JsonObj] = field(default_factory=list)  # events that failed all their attempts
    _pending: list[_Event] = field(default_factory=list, init=False)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.api_version not in API_VERSIONS:
            raise ValueError(f"the fake sends only the data-source era payloads {API_VERSIONS}")
        self._rng = random.Random(self.seed)
        self.subscription_id = self.subscription_id or self._new_id()
        self.integration_id = self.integration_id or self._new_id()
        self.workspace_id = self.workspace_id or self.fake.workspace_id
        self.workspace_name = self.workspace_name or self.fake.workspace_name
        self.fake.webhooks.append(self)

    def record(self, change: Change) -> None:
        states = LIFECYCLE.get(change.type)
        slot = "page.lifecycle" if states else change.type
        if change.type in AGGREGATED:
            for event in self._pending:
                if (
                    event.open
                    and event.slot == slot
                    and event.entity["id"] == change.entity["id"]
                    and change.at - event.first <= self.window
                ):
                    event.merge(change)
                    return
        before = (states[0], states[0]) if states else None
        event = _Event(self._new_id(), slot, change.entity, {}, [change.author], change.at, change.at, before)
        event.merge(change)
        self._pending.append(event)

    def pending(self) -> list[JsonObj]:
        """The events the next `deliver` would send, as their bodies."""
        return [body for event in self._pending if (body := self._body(event)) is not None]

    async def handshake(self, *, signed: bool = True) -> int | None:
        """The one POST Notion makes when the subscription is created; the answer's status."""
        delivery = await self._post_one(encode({"verification_token": self.verification_token}), signed=signed)
        return delivery.status

    async def deliver(
        self, *, shuffle: bool = False, duplicate: Select | None = None, hold: Select | None = None
    ) -> list[Delivery]:
        """Sends every pending event once, in the order they occurred unless `shuffle`.

        `duplicate` picks events sent twice (same id and attempt); `hold` picks events kept back for a later call,
        so later changes overtake them. An event answered with a non-2xx or a failed connection comes back at the
        next call with the same id and the next attempt_number, until its 8th attempt.
        """
        sends: list[tuple[_Event, bytes, bool]] = []
        kept: list[_Event] = []
        for event in self._pending:
            event.open = False
            body = self._body(event)
            if body is None:
                continue
            if hold is not None and hold(body):
                kept.append(event)
                continue
            sends.append((event, encode(body), False))
            if duplicate is not None and duplicate(body):
                sends.append((event, encode(body), True))
        self._pending = kept
        if shuffle:
            self._rng.shuffle(sends)
        out: list[Delivery] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            for event, raw, is_copy in sends:
                delivery = await self._post(session, raw, signed=True)
                out.append(delivery)
                if delivery.ok or is_copy:
                    continue
                event.attempt += 1
                if event.attempt <= MAX_ATTEMPTS:
                    self._pending.append(event)
                else:
                    self.lost.append(delivery.payload)
        return out

    async def drain(self, *, shuffle: bool = False) -> list[Delivery]:
        """Delivers until nothing is pending: each retry round stands for Notion's next backoff step."""
        out: list[Delivery] = []
        while self._pending:
            out += await self.deliver(shuffle=shuffle)
        return out

    def _body(self, event: _Event) -> JsonObj | None:
        kind = event.type
        if kind is None or (self.types is not None and kind not in self.types):
            return None
        return envelope(
            id=event.id,
            timestamp=ts(event.last),
            workspace_id=self.workspace_id,
            workspace_name=self.workspace_name,
            subscription_id=self.subscription_id,
            integration_id=self.integration_id,
            type=kind,
            authors=list(event.authors),
            attempt_number=event.attempt,
            api_version=self.api_version,
            entity=event.entity,
            data=event.data,
        )

    async def _post_one(self, body: bytes, *, signed: bool) -> Delivery:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            return await self._post(session, body, signed=signed)

    async def _post(self, session: aiohttp.ClientSession, body: bytes, *, signed: bool) -> Delivery:
        headers = {"Content-Type": "application/json"}
        if signed:
            headers["X-Notion-Signature"] = signature(body, self.verification_token)
        try:
            async with session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                status: int | None = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        delivery = Delivery(body, headers, status)
        self.deliveries.append(delivery)
        return delivery

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
