from domain.models import Option
from domain.ports import IssueTracker
from domain.queries import parse_issue_query


class SearchIssues:
    """Entries of the database for the link form: by title words, unique ID or pasted Notion link."""

    def __init__(self, *, tracker: IssueTracker) -> None:
        self._tracker = tracker

    async def __call__(self, text: str) -> list[Option]:
        issues = await self._tracker.search_issues(parse_issue_query(text))
        return [Option(label=f"{i.identifier} · {i.title}", value=i.page_id) for i in issues]
