import time
from collections.abc import Callable, Collection
from typing import Literal

from domain.ports import VerificationTokens

# active: already configured; pending: kept for `notion-webhook token`; local: kept in this process only, where
# the command cannot read it; unkept: the store could not keep it.
Kept = Literal["active", "pending", "local", "unkept"]


class KeepVerificationToken:
    """Keeps the token of Notion's subscription handshake for the operator, as pending. Never raises.

    Anyone can post a handshake (and sign it with its own token), so a token only becomes the key that
    verifies events when an operator configures it: a later handshake never replaces an active token
    (https://developers.notion.com/reference/webhooks).
    """

    def __init__(
        self, *, tokens: VerificationTokens, active: Collection[str], clock: Callable[[], float] = time.time
    ) -> None:
        self._tokens, self._active, self._clock = tokens, frozenset(active), clock

    async def __call__(self, token: str) -> Kept:
        if token in self._active:
            return "active"
        if not await self._tokens.offer(token, self._clock()):
            return "unkept"
        return "pending" if self._tokens.shared else "local"
