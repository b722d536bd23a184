# What the fake Notion and fake Sentry servers share: a request log and injected faults.
import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: Mapping[str, str]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    delay: float
    retry_after: int | float | str | None
    body: Any
    commit: bool

    @property
    def runs_handler(self) -> bool:
        # commit=True and non-error statuses let the real handler run (and persist) before the fault fires.
        return self.commit or self.status < 400


F = TypeVar("F", bound=Fault)


def calls(requests: list[RecordedRequest], method: str, path_regex: str) -> list[RecordedRequest]:
    pattern = re.compile(path_regex)
    return [r for r in requests if method in ("*", r.method) and pattern.fullmatch(r.path) is not None]


def take_fault(faults: list[F], method: str, path: str) -> F | None:
    for fault in faults:
        if fault.method in ("*", method) and fault.pattern.fullmatch(path):
            fault.times -= 1
            if fault.times <= 0:
                faults.remove(fault)
            return fault
    return None


async def receive(
    request: web.Request, path: str, requests: list[RecordedRequest], faults: list[F], latency: float
) -> tuple[bytes, F | None]:
    """The request's body, once it is recorded and has waited out the latency, and the fault it meets if any."""
    raw = await request.read()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    requests.append(RecordedRequest(request.method, path, dict(request.query), parsed, CIMultiDict(request.headers)))
    if latency:
        await asyncio.sleep(latency)
    return raw, take_fault(faults, request.method, path)


def drop_connection(request: web.Request) -> web.StreamResponse:
    # A connection reset: the client gets no answer at all.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)
