from domain.models import Actor, Block, Database, Entry, LinkedEntry, SentryIssue, Span


def registry_key(database: Database, sentry: SentryIssue) -> str:
    return issue_key(database, sentry.installation_id, sentry.issue_id)


def issue_key(database: Database, installation_id: str, issue_id: int | str) -> str:
    return f"{database.scope}:{installation_id}:{issue_id}"


def linked(database: Database, issue: Entry, *, created: bool = False) -> LinkedEntry:
    return LinkedEntry(
        web_url=issue.url, project=database.title, identifier=issue.identifier, created=created, page_id=issue.page_id
    )


def sentry_link(prefix: str, sentry: SentryIssue, actor: Actor) -> Block:
    return Block(
        kind="paragraph",
        spans=(
            Span(text=prefix),
            Span(text=sentry.web_url, link=sentry.web_url),
            Span(text=f" by {actor.name}", italic=True),
        ),
    )
