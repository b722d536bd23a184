import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

# How long the current request may still take, so that waits deep in an adapter (a rate limit, a
# Retry-After) can give up early instead of outliving the caller that Sentry is waiting on.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    outer = _deadline.get()
    mine = time.monotonic() + seconds
    token = _deadline.set(mine if outer is None else min(outer, mine))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())
