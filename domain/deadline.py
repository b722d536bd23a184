import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

# How long the current request may still take, so that waits deep in an adapter (a rate limit, a
# Retry-After) can give up early instead of outliving the caller that Sentry is waiting on.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)

# Who waits on the work, so Notion's budget goes first to writes a person waits on, then to webhook jobs
# (code running with no deadline), and searches get only what is left.
Priority = Literal["interactive", "job", "search"]
_priority: ContextVar[Priority] = ContextVar("priority", default="job")


@contextlib.contextmanager
def within(seconds: float, priority: Priority = "interactive") -> Iterator[None]:
    outer = _deadline.get()
    mine = time.monotonic() + seconds
    token = _deadline.set(mine if outer is None else min(outer, mine))
    ranked = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(ranked)
        _deadline.reset(token)


def remaining() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def priority() -> Priority:
    return _priority.get()
