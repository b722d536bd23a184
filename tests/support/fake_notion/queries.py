# Data-source query filters and sorts, compiled from the request body into predicates and keys.
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
from tests.support.fake_notion.rendering import plain_text
from tests.support.fake_notion.store import DataSource, Page, Store

Predicate = Callable[["Page"], bool]
TEXT_TYPES = frozenset({"title", "rich_text", "url", "email", "phone_number"})
TEXT_OPS = frozenset({"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with"})
NUMBER_OPS = frozenset(
    {"equals", "does_not_equal", "greater_than", "less_than", "greater_than_or_equal_to", "less_than_or_equal_to"}
)
DATE_OPS = frozenset({"equals", "before", "after", "on_or_before", "on_or_after"})
DATE_RANGES = frozenset({"past_week", "past_month", "past_year", "next_week", "next_month", "next_year", "this_week"})


class Queries(Store):
    def _compile_filter(self, ds: DataSource, spec: Any, path: str, depth: int) -> Predicate:
        spec = check_obj(spec, path)
        for op in ("and", "or"):
            if op in spec:
                # Compound filters nest at most two levels deep
                # (https://developers.notion.com/reference/filter-data-source-entries).
                if depth >= 2:
                    raise body_invalid(f"{path}.{op}", "not present", spec[op])
                subs = check_list(spec[op], f"{path}.{op}")
                preds = [self._compile_filter(ds, s, f"{path}.{op}[{i}]", depth + 1) for i, s in enumerate(subs)]
                if op == "and":
                    return lambda page: all(pred(page) for pred in preds)
                return lambda page: any(pred(page) for pred in preds)
        if "timestamp" in spec:
            stamp = spec["timestamp"]
            if stamp not in ("created_time", "last_edited_time"):
                raise body_invalid(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', stamp)
            if "property" in spec:
                raise body_invalid(f"{path}.property", "not present", spec["property"])
            test = self._date_condition(spec.get(stamp, UNDEFINED), f"{path}.{stamp}")
            return lambda page: test(page.created if stamp == "created_time" else page.edited)
        if "property" not in spec:
            raise body_invalid(f"{path}.property", "defined", UNDEFINED)
        prop = self._find_prop(ds, spec["property"])
        if prop is None:
            raise invalid(f"Could not find property with name or id: {spec['property']}")
        kind = next((k for k in spec if k not in ("property", "type")), None)
        if kind is None:
            raise body_invalid(f"{path}.{prop['type']}", "defined", UNDEFINED)
        if kind != prop["type"]:
            raise invalid(
                "The property type in the database does not match the property type of the filter provided: "
                f"database property {prop['type']} does not match filter {kind}"
            )
        return self._property_condition(prop, spec[kind], f"{path}.{kind}")

    def _property_condition(self, prop: JsonObj, cond: Any, path: str) -> Predicate:
        cond = check_obj(cond, path)
        if len(cond) != 1:
            extra = list(cond)[1:]
            if extra:
                raise body_invalid(f"{path}.{extra[0]}", "not present", cond[extra[0]])
            raise body_invalid(path, "an object with one condition", cond)
        op, arg = next(iter(cond.items()))
        cpath = f"{path}.{op}"
        kind, pid = prop["type"], prop["id"]
        if op in ("is_empty", "is_not_empty"):
            if arg is not True:
                raise body_invalid(cpath, "`true`", arg)
            want_empty = op == "is_empty"
            return lambda page: self._is_empty(page, prop) == want_empty
        if kind in TEXT_TYPES:
            if op not in TEXT_OPS:
                raise body_invalid(cpath, "not present", arg)
            needle = check_str(arg, cpath, MAX_TEXT).casefold()
            text_test = _text_test(op, needle)
            if kind in ("title", "rich_text"):
                return lambda page: text_test(plain_text(page.values.get(pid)).casefold())
            return lambda page: text_test((page.values.get(pid) or "").casefold())
        if kind in ("number", "unique_id"):
            if op not in NUMBER_OPS:
                raise body_invalid(cpath, "not present", arg)
            if not isinstance(arg, int | float) or isinstance(arg, bool):
                raise body_invalid(cpath, "a number", arg)
            num_test = _number_test(op, arg)
            return lambda page: page.values.get(pid) is not None and num_test(page.values[pid])
        if kind == "checkbox":
            if op not in ("equals", "does_not_equal") or not isinstance(arg, bool):
                raise body_invalid(cpath, "a boolean", arg)
            return lambda page: bool(page.values.get(pid)) == (arg if op == "equals" else not arg)
        if kind in ("select", "status", "multi_select"):
            return self._option_condition(prop, op, arg, cpath)
        if kind in ("people", "created_by", "last_edited_by"):
            if op not in ("contains", "does_not_contain"):
                raise body_invalid(cpath, "not present", arg)
            # "me" is the token's user; internal connections have none, so it matches nothing
            # (https://developers.notion.com/reference/filter-data-source-entries).
            target = arg if arg == "me" else parse_id(arg, cpath)
            contains = op == "contains"
            return lambda page: (target in self._people(page, prop)) == contains
        if kind in ("date", "created_time", "last_edited_time"):
            test = self._date_condition(cond, path)
            return lambda page: test(self._moment(page, prop))
        raise invalid(f"The fake Notion cannot filter on {kind} properties.")

    def _option_condition(self, prop: JsonObj, op: str, arg: Any, path: str) -> Predicate:
        kind, pid = prop["type"], prop["id"]
        ops = ("contains", "does_not_contain") if kind == "multi_select" else ("equals", "does_not_equal")
        if op not in ops:
            raise body_invalid(path, "not present", arg)
        names = [arg] if isinstance(arg, str) else arg
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise body_invalid(path, "a string or an array of strings", arg)
        config = prop[kind]
        wanted = {o["id"] for o in config["options"] if o["name"] in names}
        # Status filters also accept group names (https://developers.notion.com/reference/filter-data-source-entries).
        for group in config.get("groups", []):
            if group["name"] in names:
                wanted |= set(group["option_ids"])
        positive = op in ("equals", "contains")
        if kind == "multi_select":
            return lambda page: bool(wanted & set(page.values.get(pid) or [])) == positive
        return lambda page: (page.values.get(pid) in wanted) == positive

    def _date_condition(self, cond: Any, path: str) -> Callable[[datetime | None], bool]:
        cond = check_obj(cond, path)
        if len(cond) != 1:
            raise body_invalid(path, "an object with one condition", cond)
        op, arg = next(iter(cond.items()))
        cpath = f"{path}.{op}"
        if op in ("is_empty", "is_not_empty"):
            if arg is not True:
                raise body_invalid(cpath, "`true`", arg)
            return lambda moment: (moment is None) == (op == "is_empty")
        now = self.clock()
        if op in DATE_RANGES:
            if arg != {}:
                raise body_invalid(cpath, "an empty object", arg)
            if op == "this_week":
                week = now.isocalendar()[:2]
                return lambda m: m is not None and m.isocalendar()[:2] == week
            span = {"week": 7, "month": 31, "year": 365}[op.split("_")[1]]
            low, high = (
                (now - timedelta(days=span), now) if op.startswith("past") else (now, now + timedelta(days=span))
            )
            return lambda m: m is not None and low <= m <= high
        if op not in DATE_OPS:
            raise body_invalid(cpath, "not present", arg)
        parsed = _relative_date(arg, now) or parse_moment(arg)
        if parsed is None:
            raise body_invalid(cpath, "a valid ISO 8601 date string", arg)
        target, date_only = parsed
        compare = _number_test(
            {
                "before": "less_than",
                "after": "greater_than",
                "on_or_before": "less_than_or_equal_to",
                "on_or_after": "greater_than_or_equal_to",
            }.get(op, op),
            target.date().toordinal() if date_only else target.timestamp(),
        )
        if date_only:
            return lambda m: m is not None and compare(m.astimezone(UTC).date().toordinal())
        return lambda m: m is not None and compare(m.timestamp())

    def _is_empty(self, page: Page, prop: JsonObj) -> bool:
        kind, value = prop["type"], page.values.get(prop["id"])
        if kind in ("created_time", "last_edited_time", "created_by", "last_edited_by", "checkbox"):
            return False
        if kind in ("title", "rich_text"):
            return plain_text(value) == ""
        return value is None or value == "" or value == []

    def _people(self, page: Page, prop: JsonObj) -> list[str]:
        if prop["type"] in ("created_by", "last_edited_by"):
            return [self.bot_id]
        people: list[str] = page.values.get(prop["id"]) or []
        return people

    @staticmethod
    def _moment(page: Page, prop: JsonObj) -> datetime | None:
        if prop["type"] == "created_time":
            return page.created
        if prop["type"] == "last_edited_time":
            return page.edited
        value = page.values.get(prop["id"])
        parsed = parse_moment(value["start"]) if value else None
        return parsed[0] if parsed else None

    def _sort(self, ds: DataSource, pages: list[Page], sorts: Any) -> list[Page]:
        keys: list[tuple[Callable[[Page], Any], bool]] = []
        for i, sort in enumerate(check_list(sorts, "body.sorts")):
            path = f"body.sorts[{i}]"
            sort = check_obj(sort, path)
            direction = sort.get("direction", UNDEFINED)
            if direction not in ("ascending", "descending"):
                raise body_invalid(f"{path}.direction", '`"ascending"` or `"descending"`', direction)
            if "timestamp" in sort:
                stamp = sort["timestamp"]
                if stamp not in ("created_time", "last_edited_time"):
                    raise body_invalid(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', stamp)
                keys.append((_timestamp_key(stamp), direction == "descending"))
                continue
            prop = self._find_prop(ds, sort.get("property"))
            if prop is None:
                raise invalid(f"Could not find sort property with name or id: {sort.get('property')}")
            keys.append((self._sort_key(prop), direction == "descending"))
        result = list(pages)
        # Stable sorts applied from the least significant key; empty values stay last in both directions.
        for key, descending in reversed(keys):
            keyed = [(key(page), page) for page in result]
            present = sorted((kp for kp in keyed if kp[0] is not None), key=lambda kp: kp[0], reverse=descending)
            result = [page for _, page in present] + [page for value, page in keyed if value is None]
        return result

    def _sort_key(self, prop: JsonObj) -> Callable[[Page], Any]:
        kind, pid = prop["type"], prop["id"]
        if kind in ("title", "rich_text"):
            return lambda page: plain_text(page.values.get(pid)).casefold() or None
        if kind in ("select", "status", "multi_select"):
            # Notion orders options by their position in the schema, not alphabetically.
            order = {o["id"]: n for n, o in enumerate(prop[kind]["options"])}

            def option_rank(page: Page) -> int | None:
                value = page.values.get(pid)
                first = value[0] if isinstance(value, list) and value else value
                return order.get(first) if isinstance(first, str) else None

            return option_rank
        if kind in ("date", "created_time", "last_edited_time"):
            return lambda page: self._moment(page, prop)
        if kind == "people":
            return lambda page: next(
                (self._users[u].name.casefold() for u in page.values.get(pid) or [] if u in self._users), None
            )
        if kind == "checkbox":
            return lambda page: bool(page.values.get(pid))
        if kind in TEXT_TYPES:
            return lambda page: page.values.get(pid) or None
        return lambda page: page.values.get(pid)


def _timestamp_key(stamp: str) -> Callable[[Page], datetime]:
    return (lambda page: page.created) if stamp == "created_time" else (lambda page: page.edited)


def _text_test(op: str, needle: str) -> Callable[[str], bool]:
    # Case-insensitive: https://developers.notion.com/reference/filter-data-source-entries does not say, so clients must
    # re-check anyway.
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda s: s == needle,
        "does_not_equal": lambda s: s != needle,
        "contains": lambda s: needle in s,
        "does_not_contain": lambda s: needle not in s,
        "starts_with": lambda s: s.startswith(needle),
        "ends_with": lambda s: s.endswith(needle),
    }
    return tests[op]


def _number_test(op: str, target: float) -> Callable[[float], bool]:
    tests: dict[str, Callable[[float], bool]] = {
        "equals": lambda n: n == target,
        "does_not_equal": lambda n: n != target,
        "greater_than": lambda n: n > target,
        "less_than": lambda n: n < target,
        "greater_than_or_equal_to": lambda n: n >= target,
        "less_than_or_equal_to": lambda n: n <= target,
    }
    return tests[op]


def _relative_date(value: Any, now: datetime) -> tuple[datetime, bool] | None:
    offsets = {
        "today": 0,
        "tomorrow": 1,
        "yesterday": -1,
        "one_week_ago": -7,
        "one_week_from_now": 7,
        "one_month_ago": -30,
        "one_month_from_now": 30,
    }
    if not isinstance(value, str) or value not in offsets:
        return None
    day = (now + timedelta(days=offsets[value])).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, True
