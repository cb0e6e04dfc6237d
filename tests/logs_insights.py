"""Just enough of CloudWatch Logs Insights' query language to run the README's queries on the JSON lines the
function prints: `fields`, `filter` with `=` and `in` joined by `and`, `sort` and `limit` ("CloudWatch Logs
Insights language query syntax", CloudWatch Logs User Guide). Anything else is refused, so a query the README
shows is one this evaluator has checked.

Logs Insights discovers the keys of a JSON log event as fields ("Supported logs and discovered fields"); of
its system fields, `@timestamp` is here the line's own `timestamp` and `@message` the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LANGUAGE", "Query", "json_lines", "readme_queries"]

# The README's code blocks of this language are Logs Insights queries (tests/test_readme.py).
LANGUAGE = "logsinsights"
README = Path(__file__).resolve().parent.parent / "README.md"

_FIELD = r"@?[A-Za-z_][\w.]*"
_EQUALS = re.compile(rf"({_FIELD})\s*=\s*(\".*\")")
_IN = re.compile(rf"({_FIELD})\s+in\s+(\[.*\])")
_AND = re.compile(r"\s+and\s+")


def _split_outside_quotes(text: str, separator: re.Pattern[str]) -> list[str]:
    """`text` split at each match of `separator` that is not inside a string or a list."""
    parts, start, depth, quoted = [], 0, 0, False
    position = 0
    while position < len(text):
        char = text[position]
        if char == '"' and (position == 0 or text[position - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth -= 1
        elif not quoted and depth == 0 and (match := separator.match(text, position)):
            parts.append(text[start:position])
            start = position = match.end()
            continue
        position += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


@dataclass(frozen=True)
class Condition:
    field: str
    allowed: tuple[str, ...]

    def holds(self, row: Mapping[str, Any]) -> bool:
        return row.get(self.field) in self.allowed


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    conditions: tuple[Condition, ...]
    sort: tuple[str, bool] | None = None
    limit: int | None = None

    @classmethod
    def parse(cls, text: str) -> Query:
        fields: tuple[str, ...] = ()
        conditions: list[Condition] = []
        sort, limit = None, None
        for command in _split_outside_quotes(" ".join(text.split()), re.compile(r"\|")):
            name, _, rest = command.partition(" ")
            if name == "fields":
                fields = tuple(field.strip() for field in rest.split(","))
                if not all(re.fullmatch(_FIELD, field) for field in fields):
                    raise ValueError(f"not a list of fields: {rest!r}")
            elif name == "filter":
                conditions.extend(_condition(part) for part in _split_outside_quotes(rest, _AND))
            elif name == "sort" and (match := re.fullmatch(rf"({_FIELD})\s+(asc|desc)", rest)):
                sort = (match.group(1), match.group(2) == "desc")
            elif name == "limit" and rest.isdigit():
                limit = int(rest)
            else:
                raise ValueError(f"not a command this evaluator knows: {command!r}")
        if not fields:
            raise ValueError("a query without `fields`")
        return cls(fields, tuple(conditions), sort, limit)

    def run(self, lines: Iterable[str]) -> list[dict[str, Any]]:
        """The rows the query returns from these JSON lines: the `fields` of each line that passes the filter."""
        rows = [_row(line) for line in lines]
        found = [row for row in rows if all(condition.holds(row) for condition in self.conditions)]
        if self.sort is not None:
            field, descending = self.sort
            found.sort(key=lambda row: str(row.get(field, "")), reverse=descending)
        return [{field: row[field] for field in self.fields if field in row} for row in found[: self.limit]]


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _condition(text: str) -> Condition:
    if match := _EQUALS.fullmatch(text):
        value = _literal(match.group(2))
        if isinstance(value, str):
            return Condition(match.group(1), (value,))
    elif match := _IN.fullmatch(text):
        values = _literal(match.group(2))
        if isinstance(values, list) and all(isinstance(value, str) for value in values):
            return Condition(match.group(1), tuple(values))
    raise ValueError(f"not a condition this evaluator knows: {text!r}")


def _row(line: str) -> dict[str, Any]:
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON log event: {line!r}")
    return {**record, "@timestamp": record.get("timestamp"), "@message": line}


def json_lines(log: str) -> list[str]:
    """The function's log, each line a JSON object (Lambda's JSON log format): ValueError for one that is not."""
    lines = [line for line in log.splitlines() if line.strip()]
    for line in lines:
        if not isinstance(json.loads(line), dict):
            raise ValueError(f"not a JSON log event: {line!r}")
    return lines


def readme_queries() -> list[str]:
    """The README's Logs Insights queries."""
    blocks = re.findall(rf"^```{LANGUAGE}\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)
    return [str(block) for block in blocks]
