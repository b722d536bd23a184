import pytest

from adapters.memory import MemoryLinkRegistry, MemoryLocks
from domain.alerts import alert_settings
from domain.errors import InvalidField, TrackerMisconfigured
from domain.form_columns import FormColumns
from domain.models import ChoiceColumn, FormColumn, Option
from domain.use_cases.create_entry import CreateEntry
from domain.use_cases.list_column_options import ListColumnOptions
from entrypoints.http.schemas import CreateBody
from settings import NotionConfig
from tests.support.fakes import FakeWorkspace, create_request
from tests.support.sentry import issue_link_body

DATABASE = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
OFFERED = (FormColumn(name="Priority"), FormColumn(name="Tags", type="multi_select"), FormColumn(name="Gone"))


@pytest.fixture
def form(tracker: FakeWorkspace) -> FormColumns:
    # The in-memory workspace has Status (status), Priority (select) and Tags (multi-select).
    return FormColumns(columns=tracker, offered=OFFERED, status="Status")


async def test_values_are_matched_to_the_options_as_notion_names_them(form: FormColumns) -> None:
    chosen = await form.chosen({"Priority": " high ", "Tags": "payments,,BACKEND, payments"}, status="done")
    assert chosen == {"Priority": ("High",), "Tags": ("Payments", "Backend"), "Status": ("Done",)}


async def test_empty_values_are_ignored(form: FormColumns, tracker: FakeWorkspace) -> None:
    assert await form.chosen({"Owner": "", "Priority": "  "}) == {}
    assert tracker.calls == []  # nothing to check: the schema is not even read


async def test_a_value_for_a_column_not_offered_is_refused(form: FormColumns, tracker: FakeWorkspace) -> None:
    # Another database's column, listed in the form Sentry shows for every database.
    with pytest.raises(InvalidField, match="do not offer the column\\(s\\) 'Owner' \\(NOTION_CONFIG form_columns\\)"):
        await form.chosen({"Owner": "Ada", "Priority": "High"})
    assert tracker.calls == []


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"Priority": "Urgent"}, "The column 'Priority' has no option 'Urgent'; choose from: High, Medium, Low."),
        ({"Priority": "High, Low"}, "has no option 'High, Low'"),  # a select takes one option
        ({"Tags": "Backend, Infra"}, "The column 'Tags' has no option 'Infra'; choose from: Backend, Frontend"),
    ],
)
async def test_an_unknown_option_is_refused_with_the_allowed_ones(
    form: FormColumns, values: dict[str, str], says: str
) -> None:
    with pytest.raises(InvalidField, match=says):
        await form.chosen(values)


async def test_a_long_option_list_is_cut_short_in_the_message(tracker: FakeWorkspace) -> None:
    many = tuple(f"Team {n}" for n in range(30))
    tracker.choices["Team"] = ChoiceColumn(name="Team", kind="select", options=many)
    form = FormColumns(columns=tracker, offered=(FormColumn(name="Team"),))
    with pytest.raises(InvalidField, match=r"Team 24 \(and 5 more\)\.$"):
        await form.chosen({"Team": "Nobody"})


async def test_a_configured_column_missing_in_notion_is_a_setup_error(form: FormColumns) -> None:
    with pytest.raises(TrackerMisconfigured, match="no status, select or multi-select column 'Gone'"):
        await form.chosen({"Gone": "x"})


async def test_a_fixed_status_needs_a_status_column(tracker: FakeWorkspace) -> None:
    with pytest.raises(InvalidField, match=r"column_names\.status"):
        await FormColumns(columns=tracker, offered=OFFERED).chosen({}, status="Done")


async def test_options_of_the_chosen_database_only(form: FormColumns) -> None:
    options = ListColumnOptions(form=form, database_ids=(DATABASE,))
    assert await options("Tags", "end", DATABASE.replace("-", "")) == [
        Option(label="Backend", value="Backend"),
        Option(label="Frontend", value="Frontend"),
    ]
    assert [o.value for o in await options(None, "")] == ["Not started", "In progress", "Done"]
    assert await options("Tags", "", "1" * 32) == []
    assert await options("Status", "", DATABASE) == []  # the status column is not among form_columns


async def test_create_writes_the_chosen_values_and_refuses_before_writing(tracker: FakeWorkspace) -> None:
    form = FormColumns(columns=tracker, offered=OFFERED, status="Status")
    create = CreateEntry(entries=tracker, registry=MemoryLinkRegistry(), locks=MemoryLocks(), form=form)

    with pytest.raises(InvalidField):
        await create(create_request(columns={"Priority": "Urgent"}))
    assert tracker.pages == {}

    await create(create_request(columns={"Priority": "low", "Tags": "Frontend"}, status="In progress"))
    (page,) = tracker.pages.values()
    assert page.choices == {"Priority": ("Low",), "Tags": ("Frontend",), "Status": ("In progress",)}


def test_the_forms_name_columns_after_their_field_prefix() -> None:
    body = CreateBody.model_validate_json(
        issue_link_body({"title": "T", "column:Priority": "High", "column:Tags": ["A", "B"], "column:X": None})
    )
    assert body.to_request().columns == {"Priority": "High", "Tags": "A, B"}
    settings = alert_settings(
        [{"name": "status", "value": "Done"}, {"name": "column:Priority", "value": "High"}, {"name": "x", "value": 1}]
    )
    assert (settings.status, settings.columns) == ("Done", {"Priority": "High"})


def test_form_columns_are_names_or_typed_and_named_once() -> None:
    config = NotionConfig.model_validate(
        {"database_id": DATABASE, "form_columns": ["A", {"name": "B", "type": "multi_select"}]}
    )
    assert config.form_columns == (FormColumn(name="A"), FormColumn(name="B", type="multi_select"))
    with pytest.raises(ValueError, match="names A more than once"):
        NotionConfig.model_validate({"database_id": DATABASE, "form_columns": ["A", {"name": "A"}]})
    with pytest.raises(ValueError, match="type"):
        NotionConfig.model_validate({"database_id": DATABASE, "form_columns": [{"name": "A", "type": "people"}]})
