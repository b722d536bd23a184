# The database's own columns in the create form and the alert rule's settings: which are offered, their options,
# and the values chosen in them, checked against the database's schema.
from collections.abc import Mapping, Sequence

from domain.errors import InvalidField, TrackerMisconfigured
from domain.models import ChoiceColumn, FormColumn, Option
from domain.ports import EntryColumns

# The name of a column's field in Sentry's forms: the column's own name after this.
COLUMN_FIELD = "column:"
SHOWN_OPTIONS = 25  # an error lists this many allowed options, then how many more there are


class FormColumns:
    """The columns the forms offer (NOTION_CONFIG form_columns), and the status column for an alert rule's fixed
    status. Raises InvalidField, TrackerMisconfigured, TrackerUnavailable."""

    def __init__(self, *, columns: EntryColumns, offered: Sequence[FormColumn], status: str = "") -> None:
        self._columns, self._offered, self._status = columns, {c.name for c in offered}, status

    async def options(self, column: str | None, query: str) -> list[Option]:
        """The options of an offered column (the status column for None) that contain the query."""
        name = self._status if column is None else column if column in self._offered else ""
        found = (await self._columns.choice_columns()).get(name) if name else None
        words = query.strip().casefold()
        return [Option(label=o, value=o) for o in found.options if words in o.casefold()] if found else []

    async def chosen(self, values: Mapping[str, str], status: str | None = None) -> dict[str, tuple[str, ...]]:
        """Each offered column's options as Notion names them, from the form's text; an empty text leaves the
        column as the database's default. A value for a column this database does not offer (the form lists every
        database's columns) is refused, never dropped."""
        wanted = {name: text for name, text in values.items() if text.strip()}
        if stray := sorted(name for name in wanted if name not in self._offered):
            names = ", ".join(repr(n[:100]) for n in stray)
            raise InvalidField(
                f"This database's forms do not offer the column(s) {names} (NOTION_CONFIG form_columns): leave them "
                "empty, or choose the database that has them."
            )
        if status and status.strip():
            if not self._status:
                raise InvalidField(
                    "No status column is configured (NOTION_CONFIG column_names.status), so a status cannot be set."
                )
            wanted[self._status] = status
        if not wanted:
            return {}
        columns = await self._columns.choice_columns()
        return {name: _match(name, text, columns.get(name)) for name, text in wanted.items()}


def _match(name: str, text: str, column: ChoiceColumn | None) -> tuple[str, ...]:
    if column is None:
        raise TrackerMisconfigured(
            f"The Notion database has no status, select or multi-select column {name!r}, which NOTION_CONFIG "
            "names for the forms. Add it in Notion, or correct the name in NOTION_CONFIG."
        )
    # Notion refuses commas in option names, so a comma only ever separates the options of a multi-select.
    parts = text.split(",") if column.kind == "multi_select" else [text]
    known = {o.casefold(): o for o in column.options}
    chosen: list[str] = []
    unknown: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if (option := known.get(part.casefold())) is None:
            unknown.append(part[:100])
        elif option not in chosen:
            chosen.append(option)
    if unknown:
        missing = ", ".join(repr(u) for u in unknown)
        raise InvalidField(f"The column {name!r} has no option {missing}; {_allowed(column)}")
    return tuple(chosen)


def _allowed(column: ChoiceColumn) -> str:
    if not column.options:
        return "it has no options yet: add them in Notion."
    shown = ", ".join(column.options[:SHOWN_OPTIONS])
    more = len(column.options) - SHOWN_OPTIONS
    return f"choose from: {shown}{f' (and {more} more)' if more > 0 else ''}."
