# Property values, rich text and blocks as Notion checks them on writes.
from __future__ import annotations

from typing import Any

from tests.support.fake_notion.checks import (
    MAX_TEXT,
    UNDEFINED,
    JsonObj,
    body_invalid,
    check_list,
    check_obj,
    check_str,
    invalid,
    parse_id,
    parse_moment,
)
from tests.support.fake_notion.rendering import DEFAULT_ANNOTATIONS
from tests.support.fake_notion.store import BlockSpec, DataSource, Store

MAX_BLOCKS = 1000
READ_ONLY_TYPES = frozenset(
    {
        "unique_id",
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "verification",
        "button",
    }
)
RICH_TEXT_BLOCKS = frozenset(
    {
        "paragraph",
        "heading_1",
        "heading_2",
        "heading_3",
        "heading_4",
        "bulleted_list_item",
        "numbered_list_item",
        "to_do",
        "toggle",
        "quote",
        "callout",
    }
)
OTHER_BLOCKS = frozenset({"code", "bookmark", "embed", "divider", "equation", "table_of_contents"})
CODE_LANGUAGES = (  # noqa: SIM905 -- makenotion/notion-sdk-js LanguageRequest verbatim, 90 lines as a literal
    "abap, abc, agda, arduino, ascii art, assembly, bash, basic, bnf, c, c#, c++, clojure, coffeescript, coq, css, "
    "dart, dhall, diff, docker, ebnf, elixir, elm, erlang, f#, flow, fortran, gherkin, glsl, go, graphql, groovy, "
    "haskell, hcl, html, idris, java, javascript, json, julia, kotlin, latex, less, lisp, livescript, llvm ir, lua, "
    "makefile, markdown, markup, matlab, mathematica, mermaid, nix, notion formula, objective-c, ocaml, pascal, "
    "perl, php, plain text, powershell, prolog, protobuf, purescript, python, r, racket, reason, ruby, rust, sass, "
    "scala, scheme, scss, shell, smalltalk, solidity, sql, swift, toml, typescript, vb.net, verilog, vhdl, "
    "visual basic, webassembly, xml, yaml, java/c/c++/c#"
).split(", ")


class Validation(Store):
    def _validate_properties(
        self, ds: DataSource, raw: Any, path: str
    ) -> tuple[dict[str, Any], list[tuple[JsonObj, JsonObj]]]:
        """Checked values keyed by property id, plus select options to add once the whole write is valid."""
        raw = check_obj(raw, path)
        values: dict[str, Any] = {}
        new_options: list[tuple[JsonObj, JsonObj]] = []
        for key, value in raw.items():
            prop = self._find_prop(ds, key)
            if prop is None:
                raise invalid(f"{key} is not a property that exists.")
            kind = prop["type"]
            if kind in READ_ONLY_TYPES:
                raise invalid(f"{prop['name']} is a {kind} property, which cannot be set through the API.")
            value = check_obj(value, f"{path}.{key}")
            if value.get("type", kind) != kind or kind not in value:
                raise invalid(f"{prop['name']} is expected to be {kind}.")
            values[prop["id"]] = self._property_value(prop, value[kind], f"{path}.{key}.{kind}", new_options)
        return values, new_options

    def _property_value(self, prop: JsonObj, value: Any, path: str, new_options: list[tuple[JsonObj, JsonObj]]) -> Any:
        kind = prop["type"]
        if kind in ("title", "rich_text"):
            return self._rich_text(value, path)
        if value is None and kind not in ("people", "multi_select", "relation", "files", "checkbox", "status"):
            return None
        if kind in ("url", "email", "phone_number"):
            return check_str(value, path, MAX_TEXT if kind == "url" else 200)
        if kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise body_invalid(path, "a number", value)
            return value
        if kind == "checkbox":
            if not isinstance(value, bool):
                raise body_invalid(path, "a boolean", value)
            return value
        if kind in ("people", "relation"):
            return [
                parse_id(check_obj(p, f"{path}[{i}]").get("id", UNDEFINED), f"{path}[{i}].id")
                for i, p in enumerate(check_list(value, path))
            ]
        if kind in ("select", "status"):
            return self._option(prop, value, path, new_options)
        if kind == "multi_select":
            return [self._option(prop, o, f"{path}[{i}]", new_options) for i, o in enumerate(check_list(value, path))]
        if kind == "date":
            value = check_obj(value, path)
            if parse_moment(value.get("start")) is None:
                raise body_invalid(f"{path}.start", "a valid ISO 8601 date string", value.get("start", UNDEFINED))
            if value.get("end") is not None and parse_moment(value["end"]) is None:
                raise body_invalid(f"{path}.end", "a valid ISO 8601 date string", value["end"])
            return {"start": value["start"], "end": value.get("end"), "time_zone": value.get("time_zone")}
        if kind == "files":
            return check_list(value, path)
        raise invalid(f"The fake Notion cannot write {kind} properties.")

    def _option(self, prop: JsonObj, value: Any, path: str, new_options: list[tuple[JsonObj, JsonObj]]) -> str:
        kind = prop["type"]
        value = check_obj(value, path)
        options = prop[kind]["options"] + [o for p, o in new_options if p is prop]
        if "id" in value:
            found = next((o for o in options if o["id"] == value["id"]), None)
            if found is None:
                raise invalid(f"Invalid {kind} option id: {value['id']}")
            return str(found["id"])
        name = check_str(value.get("name", UNDEFINED), f"{path}.name", 100)
        if "," in name:
            raise invalid(f"Invalid {kind} option, commas not allowed: {name}")
        found = next((o for o in options if o["name"] == name), None)
        if found is not None:
            return str(found["id"])
        if kind == "status":
            # Unlike select, Notion does not invent status options: only select's are documented as created
            # (https://developers.notion.com/reference/page-property-values).
            raise invalid(f'Invalid status option. Status option "{name}" does not exist for property {prop["name"]}.')
        option = {"id": self._short_id(), "name": name, "color": "default", "description": None}
        new_options.append((prop, option))
        return str(option["id"])

    def _rich_text(self, items: Any, path: str) -> list[JsonObj]:
        out: list[JsonObj] = []
        for i, item in enumerate(check_list(items, path)):
            ipath = f"{path}[{i}]"
            item = check_obj(item, ipath)
            kind = item.get("type") or next((k for k in ("text", "mention", "equation") if k in item), None)
            annotations = {**DEFAULT_ANNOTATIONS, **check_obj(item.get("annotations", {}), f"{ipath}.annotations")}
            if kind == "text":
                text = check_obj(item.get("text", UNDEFINED), f"{ipath}.text")
                content = check_str(text.get("content", UNDEFINED), f"{ipath}.text.content", MAX_TEXT)
                link = text.get("link")
                if link is not None:
                    link = check_obj(link, f"{ipath}.text.link")
                    check_str(link.get("url", UNDEFINED), f"{ipath}.text.link.url", MAX_TEXT)
                out.append(
                    {
                        "type": "text",
                        "text": {"content": content, "link": link},
                        "annotations": annotations,
                        "plain_text": content,
                        "href": link["url"] if link else None,
                    }
                )
            elif kind == "equation":
                equation = check_obj(item.get("equation", UNDEFINED), f"{ipath}.equation")
                expression = check_str(equation.get("expression", UNDEFINED), f"{ipath}.equation.expression", 1000)
                out.append(
                    {
                        "type": "equation",
                        "equation": {"expression": expression},
                        "annotations": annotations,
                        "plain_text": expression,
                        "href": None,
                    }
                )
            elif kind == "mention":
                mention = check_obj(item.get("mention", UNDEFINED), f"{ipath}.mention")
                out.append(
                    {"type": "mention", "mention": mention, "annotations": annotations, "plain_text": "", "href": None}
                )
            else:
                raise body_invalid(f"{ipath}.text", "defined", UNDEFINED)
        return out

    def _validate_children(self, children: Any, path: str = "body.children") -> list[BlockSpec]:
        counter = [0]
        specs = self._block_specs(children, path, 1, counter)
        if counter[0] > MAX_BLOCKS:
            raise body_invalid(f"{path}.blocks.length", f"≤ `{MAX_BLOCKS}`", counter[0])
        return specs

    def _block_specs(self, blocks: Any, path: str, depth: int, counter: list[int]) -> list[BlockSpec]:
        specs: list[BlockSpec] = []
        for i, block in enumerate(check_list(blocks, path)):
            bpath = f"{path}[{i}]"
            block = check_obj(block, bpath)
            known = RICH_TEXT_BLOCKS | OTHER_BLOCKS
            kind = block.get("type") or next((k for k in block if k in known), None)
            if kind not in known:
                raise body_invalid(f"{bpath}.type", "a block type supported by the fake", block.get("type", UNDEFINED))
            cpath = f"{bpath}.{kind}"
            raw = check_obj(block.get(kind, UNDEFINED), cpath)
            counter[0] += 1
            content: JsonObj = {}
            if kind in RICH_TEXT_BLOCKS or kind == "code":
                content["rich_text"] = self._rich_text(raw.get("rich_text", UNDEFINED), f"{cpath}.rich_text")
            if kind in RICH_TEXT_BLOCKS:
                content["color"] = raw.get("color", "default")
                if kind == "to_do":
                    content["checked"] = bool(raw.get("checked", False))
                if kind.startswith("heading_"):
                    content["is_toggleable"] = bool(raw.get("is_toggleable", False))
                if kind == "callout":
                    content["icon"] = raw.get("icon")
            if kind == "code":
                language = raw.get("language", UNDEFINED)
                if language not in CODE_LANGUAGES:
                    choices = ", ".join(f'`"{name}"`' for name in CODE_LANGUAGES[:-1])
                    raise body_invalid(f"{cpath}.language", f'{choices}, or `"{CODE_LANGUAGES[-1]}"`', language)
                content["language"] = language
            if kind in ("code", "bookmark", "embed"):
                content["caption"] = self._rich_text(raw.get("caption", []), f"{cpath}.caption")
            if kind in ("bookmark", "embed"):
                content["url"] = check_str(raw.get("url", UNDEFINED), f"{cpath}.url", MAX_TEXT)
            if kind == "equation":
                content["expression"] = check_str(raw.get("expression", UNDEFINED), f"{cpath}.expression", 1000)
            children: list[BlockSpec] = []
            if "children" in raw:
                # Only two levels of children fit in one request; deeper content needs later appends.
                if depth >= 2 or kind not in RICH_TEXT_BLOCKS:
                    raise body_invalid(f"{cpath}.children", "not present", raw["children"])
                children = self._block_specs(raw["children"], f"{cpath}.children", depth + 1, counter)
            specs.append((kind, content, children))
        return specs
