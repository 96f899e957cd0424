"""Function-call arguments written as JSON text from Vertex AI's streamed ``partialArgs``.

Vertex AI (``streamFunctionCallArguments``) sends a function call's arguments as
``{jsonPath, <value>, willContinue}`` records instead of one ``args`` object.
:class:`PartialArgsWriter` turns them into JSON text fragments as they arrive,
so that the ``gemini`` dialect can deliver them as
:class:`~streamkit.events.ToolCallDelta` arguments. Pure functions and one small
state machine; no I/O, no wire models (any object with the record's attributes
will do, see :class:`PartialArg`).

JSON paths follow the normalized-path subset of RFC 9535
(https://www.rfc-editor.org/rfc/rfc9535#name-normalized-paths).
"""

from __future__ import annotations

import json
import math
import re
from typing import Protocol

__all__ = ["PartialArg", "PartialArgsWriter", "PathToken", "parse_json_path"]


class PartialArg(Protocol):
    """One ``partialArgs`` record, as the dialect's wire model holds it."""

    @property
    def jsonPath(self) -> str | None:
        """The path of the value, e.g. ``$.location.city``."""
        ...

    @property
    def stringValue(self) -> str | None:
        """A string value, or a piece of one (``willContinue``)."""
        ...

    @property
    def numberValue(self) -> float | None:
        """A number value."""
        ...

    @property
    def boolValue(self) -> bool | None:
        """A boolean value."""
        ...

    @property
    def nullValue(self) -> str | None:
        """Set (to ``NULL_VALUE``) for a JSON null."""
        ...

    @property
    def willContinue(self) -> bool | None:
        """True when the next record continues this string value."""
        ...


_PATH_SEGMENT = re.compile(
    r"""\.(?P<name>[^.\[\]'"]+)|\[(?P<index>\d+)\]|\['(?P<sq>(?:[^'\\]|\\.)*)'\]|\["(?P<dq>(?:[^"\\]|\\.)*)"\]"""
)

PathToken = str | int


def parse_json_path(path: str) -> list[PathToken] | None:
    """Split a normalized JSON path (RFC 9535 subset) into member names and indexes.

    Accepts ``$``, ``.name``, ``[0]``, ``['name']`` and ``["name"]`` segments, e.g.
    ``"$.foo.bar[0]['x y']"`` → ``["foo", "bar", 0, "x y"]``; ``None`` when the path
    is not of that form.
    """
    if not path.startswith("$"):
        return None
    tokens: list[PathToken] = []
    pos = 1
    while pos < len(path):
        match = _PATH_SEGMENT.match(path, pos)
        if match is None:
            return None
        if match["name"] is not None:
            tokens.append(match["name"])
        elif match["index"] is not None:
            tokens.append(int(match["index"]))
        else:
            single = match["sq"] is not None
            tokens.append(_unescape(match["sq"] if single else match["dq"], single=single))
        pos = match.end()
    return tokens


def _unescape(quoted: str, *, single: bool) -> str:
    """The value of a quoted JSON-path member name (RFC 9535 string escapes)."""
    if "\\" not in quoted:
        return quoted
    if single:
        # turn the single-quoted literal into a JSON (double-quoted) one
        quoted = re.sub(
            r'\\(.)|"',
            lambda m: ("'" if m[1] == "'" else m[0]) if m[1] is not None else '\\"',
            quoted,
        )
    try:
        value = json.loads(f'"{quoted}"')
    except ValueError:
        return quoted
    return value if isinstance(value, str) else quoted


def _escape(text: str) -> str:
    """``text`` as the inside of a JSON string (no quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value)


class PartialArgsWriter:
    """Writes a function call's arguments as JSON text from streamed ``partialArgs``.

    Vertex AI (``streamFunctionCallArguments``) sends the arguments as a series of
    ``{jsonPath, <value>, willContinue}`` records in document order; a string value
    may be split over several records of the same path (``willContinue: true`` on
    all but the last). :meth:`add` returns the JSON text each record adds, so the
    fragments can be delivered as they come; :meth:`close` returns the text that
    closes every open string, array and object. Joined, the fragments are a JSON
    document equal to the final ``args``.

    Paths that go back into a container already closed cannot be written
    incrementally; such records produce a duplicate key rather than being dropped.
    """

    __slots__ = ("_has_member", "_kinds", "_open_string", "_path", "started")

    def __init__(self) -> None:
        self._path: list[PathToken] = []
        self._kinds: list[str] = []
        self._has_member: list[bool] = []
        self._open_string: list[PathToken] | None = None
        self.started = False
        """True once any text was written (the root container is open)."""

    def _member(self, token: PathToken) -> str:
        comma = "," if self._has_member[-1] else ""
        self._has_member[-1] = True
        if self._kinds[-1] == "{":
            return f"{comma}{json.dumps(str(token), ensure_ascii=False)}:"
        return comma

    def _open(self, kind: str) -> str:
        self._kinds.append(kind)
        self._has_member.append(False)
        return kind

    def add(self, arg: PartialArg) -> str:
        """Return the JSON text ``arg`` adds ("" for a record without a usable path/value)."""
        tokens = parse_json_path(arg.jsonPath or "")
        if not tokens:
            return ""
        out: list[str] = []
        if self._open_string is not None:
            if self._open_string == tokens and arg.stringValue is not None:
                out.append(_escape(arg.stringValue))
                if not arg.willContinue:
                    out.append('"')
                    self._open_string = None
                return "".join(out)
            out.append('"')
            self._open_string = None
        if arg.stringValue is not None:
            value = '"' + _escape(arg.stringValue) + ("" if arg.willContinue else '"')
        elif arg.numberValue is not None:
            value = _number(arg.numberValue)
        elif arg.boolValue is not None:
            value = "true" if arg.boolValue else "false"
        elif arg.nullValue is not None:
            value = "null"
        else:
            return "".join(out)
        if not self.started:
            self.started = True
            out.append(self._open("{" if isinstance(tokens[0], str) else "["))
        parent = tokens[:-1]
        common = 0
        while (
            common < len(self._path)
            and common < len(parent)
            and self._path[common] == parent[common]
        ):
            common += 1
        while len(self._path) > common:
            self._path.pop()
            self._has_member.pop()
            out.append("}" if self._kinds.pop() == "{" else "]")
        for depth in range(common, len(parent)):
            out.append(self._member(parent[depth]))
            self._path.append(parent[depth])
            out.append(self._open("{" if isinstance(tokens[depth + 1], str) else "["))
        out.append(self._member(tokens[-1]))
        out.append(value)
        if arg.stringValue is not None and arg.willContinue:
            self._open_string = tokens
        return "".join(out)

    def close(self) -> str:
        """Return the text that ends the document (``"{}"`` when nothing was written)."""
        if not self.started:
            self.started = True
            return "{}"
        out = ['"'] if self._open_string is not None else []
        self._open_string = None
        while self._kinds:
            out.append("}" if self._kinds.pop() == "{" else "]")
        self._path.clear()
        self._has_member.clear()
        return "".join(out)
