import pytest

from adapters.memory import MemoryLinkRegistry, MemoryLocks
from tests.fakes import FakeIssueTracker


@pytest.fixture
def tracker() -> FakeIssueTracker:
    return FakeIssueTracker()


@pytest.fixture
def registry() -> MemoryLinkRegistry:
    return MemoryLinkRegistry()


@pytest.fixture
def locks() -> MemoryLocks:
    return MemoryLocks()
