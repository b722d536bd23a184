from domain.form_columns import FormColumns
from domain.models import Option
from domain.queries import notion_id


class ListColumnOptions:
    """The options of a column the forms offer (the status column for None) that contain the query, for the
    database the form chose, from the database's cached description: no call to Notion per keystroke."""

    def __init__(self, *, form: FormColumns, database_ids: tuple[str, ...]) -> None:
        self._form, self._database_ids = form, database_ids

    async def __call__(self, column: str | None, query: str, database: str = "") -> list[Option]:
        # A form without a database field (or a rule saved before it) means the configured database.
        if database and notion_id(database) not in self._database_ids:
            return []
        return await self._form.options(column, query)
