"""JSON with line numbers: parse a document and remember the line of every key and value.

Schema errors in suite files are reported as `<file>:<line>: <where>: <problem>`; pydantic gives the
location as a path of keys and indices, and `locate` maps that path to the line it starts on.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from json.decoder import scanstring
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")

Path_ = tuple[str | int, ...]


def loads_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """The parsed document and {path: 1-based line}; the path of a member is its parent's path + key.

    Raises `json.JSONDecodeError` exactly as `json.loads` does for invalid JSON. A key that appears
    twice in one object has the line of its last appearance (the one `json.loads` keeps).
    """
    doc, lines, _ = _scan(text)
    return doc, lines


def duplicate_keys(text: str) -> list[tuple[Path_, int]]:
    """(path, 1-based line) of every repeated appearance of a key in one object, in document order.

    `json.loads` keeps only the last value of such a key, silently. Raises `json.JSONDecodeError` for invalid JSON.
    """
    return _scan(text)[2]


def _scan(text: str) -> tuple[Any, dict[Path_, int], list[tuple[Path_, int]]]:
    doc = json.loads(text)
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    lines: dict[Path_, int] = {}
    repeated: list[tuple[Path_, int]] = []

    def line_of(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    def skip(pos: int) -> int:
        return _WS.match(text, pos).end()  # type: ignore[union-attr]

    def value(pos: int, path: Path_) -> int:
        pos = skip(pos)
        lines.setdefault(path, line_of(pos))
        ch = text[pos]
        if ch == "{":
            pos = skip(pos + 1)
            if text[pos] == "}":
                return pos + 1
            seen: set[str] = set()
            while True:
                key_pos = pos
                key, pos = scanstring(text, pos + 1)
                if key in seen:
                    repeated.append(((*path, key), line_of(key_pos)))
                seen.add(key)
                lines[(*path, key)] = line_of(key_pos)
                pos = skip(pos) + 1  # ':'
                pos = value(pos, (*path, key))
                pos = skip(pos)
                if text[pos] == "}":
                    return pos + 1
                pos = skip(pos + 1)  # ','
        if ch == "[":
            pos = skip(pos + 1)
            if text[pos] == "]":
                return pos + 1
            index = 0
            while True:
                pos = value(pos, (*path, index))
                pos = skip(pos)
                if text[pos] == "]":
                    return pos + 1
                pos = skip(pos + 1)
                index += 1
        if ch == '"':
            return scanstring(text, pos + 1)[1]
        for literal in ("true", "false", "null", "NaN", "Infinity", "-Infinity"):
            if text.startswith(literal, pos):
                return pos + len(literal)
        match = _NUMBER.match(text, pos)
        return match.end() if match else pos + 1

    value(0, ())
    return doc, lines, repeated


def locate(lines: dict[Path_, int], loc: Sequence[str | int]) -> int | None:
    """The line of the longest prefix of `loc` that the document has (None when not even the root)."""
    path = tuple(loc)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def dotted(loc: Sequence[str | int]) -> str:
    """A pydantic location as `stories[0].scenes[1].caption`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def schema_problems(exc: Any, lines: dict[Path_, int] | None, where: str) -> list[str]:
    """One line per error of a pydantic `ValidationError`: `<where>:<line>: <field>: <problem>`.

    `lines` maps document paths to lines (None for a one-line document: `where` already names it).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if isinstance(p, (int, str))]
        if lines is not None and error["type"] != "missing":
            while loc and tuple(loc) not in lines:  # drop union-member tags pydantic appends
                loc = loc[:-1]
        line = locate(lines, loc) if lines is not None else None
        prefix = f"{where}:{line}" if line is not None else where
        problems.append(f"{prefix}: {dotted(loc)}: {_message(error)}")
    return problems


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    given = error.get("input")
    shown = json.dumps(given, default=str) if not isinstance(given, dict) else "an object"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{error['msg'].rstrip('.')} (got {shown})"
