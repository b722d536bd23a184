from domain.alerts import chosen_database
from domain.errors import InvalidField, InvalidSettings, IssueNotFound, TrackerMisconfigured
from domain.form_columns import FormColumns
from domain.models import AlertSettings, Assignee, EntryQuery
from domain.ports import Entries, People
from domain.stale_while_revalidate import StaleWhileRevalidate


class CheckAlertSettings:
    """Checks the settings of a "Create a Notion entry" action when Sentry saves its alert rule, and answers the
    message Sentry shows. Raises InvalidSettings naming what is wrong (Sentry then refuses to save the rule),
    Unavailable when Notion cannot answer now."""

    def __init__(
        self,
        *,
        entries: Entries,
        people: People,
        assignees: StaleWhileRevalidate[list[Assignee]],
        database_ids: tuple[str, ...],
        form: FormColumns,
    ) -> None:
        self._entries, self._people, self._assignees, self._database_ids = entries, people, assignees, database_ids
        self._form = form

    async def __call__(self, settings: AlertSettings) -> str:
        if not settings.database:
            raise InvalidSettings("Choose the Notion database the entries go to.")
        chosen_database(settings, self._database_ids)
        try:
            database = await self._entries.database()
            # A real read of the database, not the cached description: it may have been unshared since.
            await self._entries.search_entries(EntryQuery(limit=1))
        except (TrackerMisconfigured, IssueNotFound) as exc:
            raise InvalidSettings(f"The Notion database cannot be used: {exc.message}") from exc
        if settings.assignee:
            people = (await self._assignees.get(f"assignees:{database.people}", self._people.list_assignees)).value
            if not any(p.id == settings.assignee for p in people):
                raise InvalidSettings(
                    f"The assignee {settings.assignee[:60]!r} is not a person of the {database.title!r} workspace; "
                    "choose one from the list."
                )
        try:
            # The same check as the create form's, so that a rule never fires into a value Notion refuses.
            await self._form.chosen(settings.columns, settings.status)
        except (InvalidField, TrackerMisconfigured) as exc:
            raise InvalidSettings(exc.message) from exc
        return f"Notion entries will be created in {database.title}."
