# What the fake Notion and fake Sentry servers share: a request log and injected faults.
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: Mapping[str, str]


class Fault(Protocol):
    method: str
    pattern: re.Pattern[str]
    times: int


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


def drop_connection(request: web.Request) -> web.StreamResponse:
    # A connection reset: the client gets no answer at all.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)
