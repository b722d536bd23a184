# The database's columns: as the settings name them, and as Notion describes them.
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from domain.models import FormColumn


@dataclass(frozen=True)
class Columns:
    assignee: str = "Assignee"
    id: str = "ID"
    sentry_url: str = "Sentry Link"
    status: str = ""  # kept in step with Sentry only when named
    details: tuple[tuple[str, str], ...] = ()  # (level|events|users|first_seen|last_seen|release|environment, column)
    status_options: tuple[tuple[str, str], ...] = ()  # (setting, option) the sync policy names, checked by check
    form: tuple[FormColumn, ...] = ()  # offered in the forms (NOTION_CONFIG form_columns), checked by `check`


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    prefix: str | None = None
    options: tuple[str, ...] = ()  # of a status, select or multi-select column
    groups: dict[str, tuple[str, ...]] = {}  # of a status column: group name -> its options' names


# The column types each Sentry detail can be written to.
DETAIL_TYPES = {
    "level": ("select", "rich_text"),
    "events": ("number",),
    "users": ("number",),
    "first_seen": ("date",),
    "last_seen": ("date",),
    "release": ("rich_text", "select"),
    "environment": ("select", "rich_text"),
}
