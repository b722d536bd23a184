# The UI schema Sentry's integration is given once, by hand, in its Schema box: the forms it shows and the routes of
# this service they call. The database's own columns come from NOTION_CONFIG, so the schema is printed for it
# (`sentry-notion ui-schema`). FormField semantics: https://docs.sentry.io/organization/integrations/integration-platform/ui-components/formfield/
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from domain.form_columns import COLUMN_FIELD
from domain.models import FormColumn

JSON = dict[str, Any]
COLUMN_OPTIONS = "/sentry/options/columns/"  # followed by the column's name
STATUS_OPTIONS = "/sentry/options/status"
ASSIGNEE: JSON = {
    "type": "select",
    "label": "Assignee",
    "name": "assignee",
    "uri": "/sentry/options/assignees",
    "async": True,
    "skip_load_on_open": True,
    "placeholder": "Type a name or email",
}
DATABASE: JSON = {"type": "select", "label": "Database", "name": "database", "uri": "/sentry/options/databases"}


def ui_schema(columns: Sequence[FormColumn], status_column: str = "") -> JSON:
    create_required: list[JSON] = [{"type": "text", "label": "Title", "name": "title", "default": "issue.title"}]
    create_optional: list[JSON] = [
        {"type": "textarea", "label": "Description", "name": "description", "default": "issue.description"},
        ASSIGNEE,
        DATABASE | {"placeholder": "The Sentry project's database"},
    ]
    # The database is optional here, and a field depending on an empty one stays disabled: the columns' options
    # come from the chosen database when there is one, else from the Sentry project's.
    create_optional += _column_fields(columns, depends=False)
    # The alert rule's fixed status is always offered; the status column among form_columns would be offered twice.
    rule_columns = [c for c in columns if c.name != status_column]
    status: JSON = {
        "type": "select",
        "label": "Status",
        "name": "status",
        "uri": STATUS_OPTIONS,
        "async": False,
        "depends_on": ["database"],
        "placeholder": "The database's default",
    }
    return {
        "elements": [
            {
                "type": "issue-link",
                "create": {
                    "uri": "/sentry/issue-link/create",
                    "required_fields": create_required,
                    "optional_fields": create_optional,
                },
                "link": {
                    "uri": "/sentry/issue-link/link",
                    "required_fields": [
                        {
                            "type": "select",
                            "label": "Notion entry",
                            "name": "issue",
                            "uri": "/sentry/options/issues",
                            "async": True,
                            "skip_load_on_open": True,
                            "placeholder": "Title words, an ID such as BUG-12, or a Notion link",
                        }
                    ],
                },
            },
            {
                "type": "alert-rule-action",
                "title": "Create a Notion entry",
                "settings": {
                    "type": "alert-rule-settings",
                    "uri": "/sentry/alert-rule-action",
                    "description": (
                        "One Notion entry per Sentry issue or metric alert incident, linked in Sentry's sidebar."
                    ),
                    "required_fields": [DATABASE],
                    "optional_fields": [
                        ASSIGNEE,
                        status,
                        *_column_fields(rule_columns, depends=True),
                        {
                            "type": "select",
                            "label": "When it fires again for an issue that has its entry",
                            "name": "comment_on_repeat",
                            # [value, label]: Sentry shows the second and saves the first.
                            "options": [
                                ["no", "Refresh the entry's columns"],
                                ["yes", "Refresh them and comment on the entry"],
                            ],
                        },
                    ],
                },
            },
        ]
    }


def ui_schema_text(columns: Sequence[FormColumn], status_column: str = "") -> str:
    return json.dumps(ui_schema(columns, status_column), indent=2, ensure_ascii=False) + "\n"


def _column_fields(columns: Sequence[FormColumn], *, depends: bool) -> list[JSON]:
    # A select's options are the chosen database's (Sentry sends the choice as dependentData); a multi-select is
    # text, which Sentry cannot make depend on another field.
    fields: list[JSON] = []
    for column in columns:
        name = f"{COLUMN_FIELD}{column.name}"
        if column.type == "multi_select":
            fields.append(
                {
                    "type": "text",
                    "label": column.name,
                    "name": name,
                    "placeholder": "Options, comma-separated",
                    "help": f"Existing options of the Notion column {column.name!r}, separated by commas.",
                }
            )
            continue
        # Sentry merges a query string in a uri into the path, so the column is named by the path itself.
        field: JSON = {
            "type": "select",
            "label": column.name,
            "name": name,
            "uri": COLUMN_OPTIONS + quote(column.name, safe=""),
            "async": False,
        }
        fields.append(field | ({"depends_on": ["database"]} if depends else {}))
    return fields
