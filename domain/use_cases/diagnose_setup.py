import asyncio
from collections.abc import Sequence

from domain.models import Finding
from domain.ports import Dependency


class DiagnoseSetup:
    """Every check of the setup, each with what to do when it fails."""

    def __init__(self, *, dependencies: Sequence[Dependency]) -> None:
        self._dependencies = dependencies

    async def __call__(self) -> list[Finding]:
        results = await asyncio.gather(*(d.diagnose(thorough=True) for d in self._dependencies))
        return [finding for found in results for finding in found]
