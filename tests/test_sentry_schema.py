"""The repo's sentry_ui_schema.json, checked as Sentry checks it when the app is saved."""

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.alerts import alert_settings
from domain.models import FormColumn
from entrypoints.http.ui_schema import ui_schema as printed_schema
from entrypoints.http.ui_schema import ui_schema_text
from tests.support.sentry_schema import (
    REQUEST_TIME_URI_PATTERN,
    ValidationError,
    validate_ui_schema,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "sentry_ui_schema.json"

SERVED_URIS = {
    "/sentry/issue-link/create",
    "/sentry/issue-link/link",
    "/sentry/options/issues",
    "/sentry/options/assignees",
    "/sentry/alert-rule-action",
    "/sentry/options/databases",
    "/sentry/options/status",
}


@pytest.fixture
def ui_schema() -> dict[str, Any]:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _issue_link(schema: dict[str, Any]) -> dict[str, Any]:
    [element] = [e for e in schema["elements"] if e["type"] == "issue-link"]
    assert isinstance(element, dict)
    return element


def _alert_rule_action(schema: dict[str, Any]) -> dict[str, Any]:
    [element] = [e for e in schema["elements"] if e["type"] == "alert-rule-action"]
    assert isinstance(element, dict)
    return element


def _fields(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fields = form.get("required_fields", []) + form.get("optional_fields", [])
    return {f["name"]: f for f in fields}


def _uris(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uri":
                assert isinstance(value, str)
                yield value
            else:
                yield from _uris(value)
    elif isinstance(node, list):
        for item in node:
            yield from _uris(item)


# --- the repo's schema -------------------------------------------------------------


def test_repo_schema_passes_sentry_validator(ui_schema: dict[str, Any]) -> None:
    validate_ui_schema(ui_schema)


def test_every_uri_is_valid_at_request_time(ui_schema: dict[str, Any]) -> None:
    uris = list(_uris(ui_schema))
    assert uris
    for uri in uris:
        assert re.match(REQUEST_TIME_URI_PATTERN, uri), uri


def test_uris_are_exactly_the_routes_the_app_serves(ui_schema: dict[str, Any]) -> None:
    for element in ui_schema["elements"]:  # the assignee list serves the create form and the alert rule alike
        uris = list(_uris(element))
        assert len(uris) == len(set(uris))
    assert set(_uris(ui_schema)) == SERVED_URIS


def test_create_form(ui_schema: dict[str, Any]) -> None:
    create = _issue_link(ui_schema)["create"]
    assert create["uri"] == "/sentry/issue-link/create"
    fields = _fields(create)

    required = {f["name"] for f in create["required_fields"]}
    assert "title" in required
    assert fields["title"]["type"] == "text"
    assert fields["title"]["default"] == "issue.title"

    assert fields["description"]["type"] == "textarea"
    assert fields["description"]["default"] == "issue.description"

    assignee = fields["assignee"]
    assert assignee["type"] == "select"
    assert assignee["uri"] == "/sentry/options/assignees"
    assert "options" not in assignee
    assert assignee["async"] is True
    assert assignee["skip_load_on_open"] is True


def test_link_form(ui_schema: dict[str, Any]) -> None:
    link = _issue_link(ui_schema)["link"]
    assert link["uri"] == "/sentry/issue-link/link"
    selects = [f for f in _fields(link).values() if f["type"] == "select"]
    assert len(selects) == 1
    [select] = selects
    assert select in link["required_fields"]
    assert select["uri"] == "/sentry/options/issues"
    assert "options" not in select
    assert select["async"] is True
    assert select["skip_load_on_open"] is True


def test_alert_rule_action(ui_schema: dict[str, Any]) -> None:
    action = _alert_rule_action(ui_schema)
    assert action["title"] == "Create a Notion entry"
    settings = action["settings"]
    assert (settings["type"], settings["uri"]) == ("alert-rule-settings", "/sentry/alert-rule-action")
    assert [f["name"] for f in settings["required_fields"]] == ["database"]
    fields = _fields(settings)
    assert fields["database"]["uri"] == "/sentry/options/databases"
    assert fields["assignee"]["uri"] == "/sentry/options/assignees"
    assert fields["assignee"]["skip_load_on_open"] is True
    # Sentry saves an option's first item as the setting's value, which alert_settings reads.
    saved = {
        value: alert_settings([{"name": "comment_on_repeat", "value": value}]).comment_on_repeat
        for value, _ in fields["comment_on_repeat"]["options"]
    }
    assert saved == {"no": False, "yes": True}
    # The fixed status offers the chosen database's options, so Sentry loads it once a database is chosen.
    assert fields["status"]["uri"] == "/sentry/options/status"
    assert fields["status"]["depends_on"] == ["database"]


def test_the_alert_rule_action_alone_is_checked_as_sentry_checks_it(ui_schema: dict[str, Any]) -> None:
    validate_ui_schema({"elements": [_alert_rule_action(ui_schema)]})
    broken = copy.deepcopy(_alert_rule_action(ui_schema))
    broken["settings"]["description"] = "x" * 141
    with pytest.raises(ValidationError):
        validate_ui_schema({"elements": [broken]})


# --- the schema for a NOTION_CONFIG (`sentry-notion ui-schema`) ------------------------


def test_the_committed_schema_is_the_one_printed_for_the_default_configuration() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == ui_schema_text(())


FORM_COLUMNS = (
    FormColumn(name="Status"),
    FormColumn(name="Priority"),
    FormColumn(name="Team @ Acme"),
    FormColumn(name="Tags", type="multi_select"),
)


def test_form_columns_pass_sentry_validator_in_both_forms() -> None:
    schema = printed_schema(FORM_COLUMNS, "Status")
    validate_ui_schema(schema)
    validate_ui_schema({"elements": [_alert_rule_action(schema)]})
    for uri in _uris(schema):
        assert re.match(REQUEST_TIME_URI_PATTERN, uri), uri


def test_form_columns_are_optional_fields_of_the_create_form() -> None:
    create = _issue_link(printed_schema(FORM_COLUMNS, "Status"))["create"]
    assert [f["name"] for f in create["required_fields"]] == ["title"]
    fields = _fields(create)
    assert fields["column:Priority"] == {
        "type": "select",
        "label": "Priority",
        "name": "column:Priority",
        "uri": "/sentry/options/columns/Priority",
        "async": False,
    }
    assert fields["column:Status"]["uri"] == "/sentry/options/columns/Status"
    # No query string in a uri (Sentry would merge it into the path), and no "@" (refused at request time).
    assert fields["column:Team @ Acme"]["uri"] == "/sentry/options/columns/Team%20%40%20Acme"
    assert fields["column:Tags"]["type"] == "text"
    # The create form has no database field to depend on: a depends_on field would stay disabled.
    assert not any("depends_on" in f for f in fields.values())


def test_form_columns_in_the_alert_rule_depend_on_the_database() -> None:
    settings = _alert_rule_action(printed_schema(FORM_COLUMNS, "Status"))["settings"]
    names = [f["name"] for f in settings["optional_fields"]]
    assert names == ["assignee", "status", "column:Priority", "column:Team @ Acme", "column:Tags", "comment_on_repeat"]
    fields = _fields(settings)
    assert fields["column:Priority"]["depends_on"] == ["database"]
    assert fields["column:Tags"]["type"] == "text"


# --- the validator itself can fail --------------------------------------------------


def _valid() -> dict[str, Any]:
    return {
        "elements": [
            {
                "type": "issue-link",
                "create": {
                    "uri": "/c",
                    "required_fields": [
                        {
                            "type": "text",
                            "label": "T",
                            "name": "t",
                            "default": "issue.title",
                        }
                    ],
                },
                "link": {
                    "uri": "/l",
                    "required_fields": [{"type": "select", "label": "P", "name": "p", "uri": "/o"}],
                },
            }
        ]
    }


def test_minimal_valid_schema_and_empty_values_pass() -> None:
    validate_ui_schema(_valid())
    validate_ui_schema({})
    validate_ui_schema("")


def test_extra_keys_are_accepted() -> None:
    schema = _valid()
    schema["elements"][0]["link"]["required_fields"][0]["placeholder"] = "Type"
    validate_ui_schema(schema)


def test_rejects_missing_create() -> None:
    schema = _valid()
    del schema["elements"][0]["create"]
    with pytest.raises(ValidationError, match="'create' is a required property"):
        validate_ui_schema(schema)


def test_rejects_missing_link() -> None:
    schema = _valid()
    del schema["elements"][0]["link"]
    with pytest.raises(ValidationError, match="'link' is a required property"):
        validate_ui_schema(schema)


def test_rejects_empty_required_fields() -> None:
    schema = _valid()
    schema["elements"][0]["create"]["required_fields"] = []
    with pytest.raises(ValidationError):
        validate_ui_schema(schema)


def test_rejects_select_with_both_uri_and_options() -> None:
    schema = _valid()
    schema["elements"][0]["link"]["required_fields"][0]["options"] = [["a", "A"]]
    with pytest.raises(ValidationError, match=r"'options': \[\['a', 'A'\]\]\} is not valid"):
        validate_ui_schema(schema)


def test_rejects_select_with_neither_uri_nor_options() -> None:
    schema = _valid()
    del schema["elements"][0]["link"]["required_fields"][0]["uri"]
    with pytest.raises(ValidationError):
        validate_ui_schema(schema)


def test_rejects_text_default_other_than_title_or_description() -> None:
    schema = _valid()
    schema["elements"][0]["create"]["required_fields"][0]["default"] = "issue.culprit"
    with pytest.raises(ValidationError, match=r"issue\.culprit"):
        validate_ui_schema(schema)


def test_rejects_bad_text_default_in_alert_rule_settings_with_sentry_message() -> None:
    schema = {
        "elements": [
            {
                "type": "alert-rule-action",
                "title": "Notion",
                "settings": {
                    "type": "alert-rule-settings",
                    "uri": "/a",
                    "required_fields": [
                        {
                            "type": "textarea",
                            "label": "D",
                            "name": "d",
                            "default": "issue.culprit",
                        }
                    ],
                },
            }
        ]
    }
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema(schema)
    assert exc.value.message == (
        "Elements of type ['text', 'textarea'] may only have a default value of the "
        "following: ['issue.title', 'issue.description'], but issue.culprit was found."
    )


def test_rejects_two_issue_link_elements() -> None:
    schema = _valid()
    schema["elements"].append(copy.deepcopy(schema["elements"][0]))
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema(schema)
    assert exc.value.message == "Multiple elements of type: issue-link"


def test_rejects_elements_not_a_list() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema({"elements": {"type": "issue-link"}})
    assert exc.value.message == "'elements' should be an array of objects"


def test_rejects_element_without_type() -> None:
    schema = _valid()
    del schema["elements"][0]["type"]
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema(schema)
    assert exc.value.message == "Each element needs a 'type' field"


def test_rejects_unknown_element_type() -> None:
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema({"elements": [{"type": "issue-links"}]})
    assert exc.value.message == (
        "Element has type 'issue-links'. Type must be one of the following: "
        "['issue-link', 'alert-rule-action', 'issue-media', 'stacktrace-link']"
    )


def test_element_errors_name_the_element_type() -> None:
    schema = _valid()
    schema["elements"][0]["create"]["uri"] = "sentry/issue-link/create"
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema(schema)
    assert exc.value.message.endswith(" for element of type 'issue-link'")


def test_unexpected_precheck_errors_fall_through_to_full_validation() -> None:
    # A non-object element breaks the pre-checks; Sentry logs that and lets the
    # Draft 7 validation report the error instead.
    with pytest.raises(ValidationError) as exc:
        validate_ui_schema({"elements": [42]})
    assert "for element of type" not in exc.value.message


def test_rejects_missing_elements() -> None:
    with pytest.raises(ValidationError, match="'elements' is a required property"):
        validate_ui_schema({"components": []})


@pytest.mark.parametrize("uri", ["//evil.example.com/x", "/user@evil.example.com", "sentry/x"])
def test_request_time_uri_pattern_rejects(uri: str) -> None:
    assert re.match(REQUEST_TIME_URI_PATTERN, uri) is None
