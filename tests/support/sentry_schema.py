"""Sentry's save-time validator for a Sentry App's UI schema, reproduced offline.

Follows getsentry/sentry ``SchemaField.to_internal_value`` -> ``validate_ui_element_schema``
(src/sentry/sentry_apps/api/parsers/sentry_app.py and schema.py). Its steps, numbered below in Sentry's
order: 0 empty schemas, pre-checks 1.1-1.5 with Sentry's error messages, then 2 ``Draft7Validator(SCHEMA)``
reporting ``best_match``, no format checker.
Kept free of any import from the application.
"""

import logging
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TEXT_TYPES",
    "ELEMENT_TYPES",
    "REQUEST_TIME_URI_PATTERN",
    "SCHEMA",
    "TEXT_COMPONENTS",
    "ValidationError",
    "validate_ui_schema",
]

ELEMENT_TYPES = ["issue-link", "alert-rule-action", "issue-media", "stacktrace-link"]
DEFAULT_TEXT_TYPES = ["issue.title", "issue.description"]
TEXT_COMPONENTS = ["text", "textarea"]

# Not checked at save time; required by Sentry at request time (getsentry/sentry
# src/sentry/sentry_apps/external_requests/utils.py::VALID_SENTRY_APP_URI_RE).
REQUEST_TIME_URI_PATTERN = r"^/(?!/)[^@]*$"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "definitions": {
        # Property types
        "uri": {"type": "string", "format": "uri", "pattern": r"^\/"},
        "options": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "array",
                "minItems": 2,
                "maxItems": 2,
                "items": [
                    {"type": "string"},
                    {"anyOf": [{"type": "string"}, {"type": "number"}]},
                ],
            },
        },
        "fieldset": {
            "type": "array",
            "minItems": 1,
            "items": {
                "anyOf": [
                    {"$ref": "#/definitions/select"},
                    {"$ref": "#/definitions/text"},
                    {"$ref": "#/definitions/textarea"},
                ]
            },
        },
        # Form components
        "select": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["select"]},
                "label": {"type": "string"},
                "name": {"type": "string"},
                "async": {"type": "boolean"},
                "skip_load_on_open": {"type": "boolean"},
                "uri": {"$ref": "#/definitions/uri"},
                "options": {"$ref": "#/definitions/options"},
                "depends_on": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string"},
                },
            },
            "required": ["type", "name", "label"],
            "oneOf": [{"required": ["uri"]}, {"required": ["options"]}],
        },
        "text": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["text"]},
                "label": {"type": "string"},
                "name": {"type": "string"},
                "default": {
                    "type": "string",
                    "enum": ["issue.title", "issue.description"],
                },
            },
            "required": ["type", "label", "name"],
        },
        "textarea": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["textarea"]},
                "label": {"type": "string"},
                "name": {"type": "string"},
                "default": {
                    "type": "string",
                    "enum": ["issue.title", "issue.description"],
                },
            },
            "required": ["type", "label", "name"],
        },
        # Composable components
        "header": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["header"]},
                "text": {"type": "string"},
            },
            "required": ["type", "text"],
        },
        "image": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["image"]},
                "url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": r"^(?:https?|\/)",
                },
                "alt": {"type": "string"},
            },
            "required": ["type", "url"],
        },
        "video": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["video"]},
                "url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": r"^(?:https?|\/)",
                },
            },
            "required": ["type", "url"],
        },
        "markdown": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["markdown"]},
                "text": {"type": "string"},
            },
            "required": ["type", "text"],
        },
        # Feature components
        "issue-link": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["issue-link"]},
                "link": {
                    "type": "object",
                    "properties": {
                        "uri": {"$ref": "#/definitions/uri"},
                        "required_fields": {"$ref": "#/definitions/fieldset"},
                        "optional_fields": {"$ref": "#/definitions/fieldset"},
                    },
                    "required": ["uri", "required_fields"],
                },
                "create": {
                    "type": "object",
                    "properties": {
                        "uri": {"$ref": "#/definitions/uri"},
                        "required_fields": {"$ref": "#/definitions/fieldset"},
                        "optional_fields": {"$ref": "#/definitions/fieldset"},
                    },
                    "required": ["uri", "required_fields"],
                },
            },
            "required": ["type", "link", "create"],
        },
        "alert-rule-settings": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["alert-rule-settings"]},
                "description": {"type": "string", "maxLength": 140, "minLength": 1},
                "uri": {"$ref": "#/definitions/uri"},
                "required_fields": {"$ref": "#/definitions/fieldset"},
                "optional_fields": {"$ref": "#/definitions/fieldset"},
            },
            "required": ["type", "uri", "required_fields"],
        },
        "alert-rule-action": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["alert-rule-action"]},
                "title": {"type": "string"},
                "settings": {"$ref": "#/definitions/alert-rule-settings"},
            },
            "required": ["type", "title", "settings"],
        },
        "issue-media": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["issue-media"]},
                "title": {"type": "string"},
                "elements": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [
                            {"$ref": "#/definitions/header"},
                            {"$ref": "#/definitions/markdown"},
                            {"$ref": "#/definitions/image"},
                            {"$ref": "#/definitions/video"},
                        ]
                    },
                },
            },
            "required": ["type", "title", "elements"],
        },
        "stacktrace-link": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["stacktrace-link"]},
                "uri": {"$ref": "#/definitions/uri"},
            },
            "required": ["type", "uri"],
        },
    },
    "properties": {
        "elements": {
            "type": "array",
            "minItems": 1,
            "items": {
                "anyOf": [
                    {"$ref": "#/definitions/issue-link"},
                    {"$ref": "#/definitions/alert-rule-action"},
                    {"$ref": "#/definitions/issue-media"},
                    {"$ref": "#/definitions/stacktrace-link"},
                ]
            },
        }
    },
    "required": ["elements"],
}


def _validate(instance: object, schema: dict[str, Any]) -> None:
    """Draft 7, no format checker; raise the ``best_match`` error."""
    validator = Draft7Validator(schema)
    if not validator.is_valid(instance):
        error = best_match(validator.iter_errors(instance))
        assert error is not None
        raise error


def _validate_component(element: Any) -> None:
    """Pre-check 1.4: one element alone, against its own definition.

    A shallow copy of SCHEMA whose ``properties`` are all ``definitions`` and
    without the top-level ``required``, checked against ``{type: element}``.
    """
    component_schema = dict(SCHEMA)
    component_schema["properties"] = component_schema["definitions"]
    del component_schema["required"]
    _validate({element["type"]: element}, component_schema)


def _check_elements_is_array(instance: Any) -> None:
    # 1.1
    if "elements" in instance and not isinstance(instance["elements"], list):
        raise ValidationError("'elements' should be an array of objects")


def _check_text_component_defaults(element: Any, found_type: str) -> None:
    # 1.3. Reads fields from the element itself (``settings`` for alert rules);
    # for issue-link the fields live under create/link, where 1.4/2 catch them.
    data = element["settings"] if found_type == "alert-rule-action" else element
    fields = data.get("optional_fields", []) + data.get("required_fields", [])
    for field in fields:
        if field.get("type") in TEXT_COMPONENTS:
            default = field.get("default")
            if default and default not in DEFAULT_TEXT_TYPES:
                raise ValidationError(
                    f"Elements of type {TEXT_COMPONENTS} may only have a default "
                    f"value of the following: {DEFAULT_TEXT_TYPES}, "
                    f"but {default} was found."
                )


def _check_each_element(instance: Any) -> None:
    # 1.2 - 1.4, element by element.
    if "elements" not in instance:
        return
    for element in instance["elements"]:
        if "type" not in element:
            raise ValidationError("Each element needs a 'type' field")
        found_type = element["type"]
        if found_type not in ELEMENT_TYPES:
            raise ValidationError(
                f"Element has type '{found_type}'. Type must be one of the following: {ELEMENT_TYPES}"
            )
        _check_text_component_defaults(element, found_type)
        try:
            _validate_component(element)
        except ValidationError as e:
            raise ValidationError(f"{e.message} for element of type '{found_type}'") from e


def _check_only_one_of_each_element(instance: Any) -> None:
    # 1.5
    if "elements" not in instance:
        return
    found: set[Any] = set()
    for element in instance["elements"]:
        if element["type"]:
            if element["type"] in found:
                raise ValidationError(f"Multiple elements of type: {element['type']}")
            found.add(element["type"])


def validate_ui_schema(instance: object) -> None:
    """Raise ``ValidationError``, with Sentry's message, where Sentry refuses it."""
    if instance is None or instance in ("", {}):
        return  # step 0: "no components"
    try:
        _check_elements_is_array(instance)
        _check_each_element(instance)
        _check_only_one_of_each_element(instance)
    except ValidationError:
        raise
    except Exception as exc:
        # Sentry only logs these; the full validation below decides.
        logger.warning("Unexpected error validating schema: %s", exc, exc_info=True)
    _validate(instance, SCHEMA)
