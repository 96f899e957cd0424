"""The sync and async executors are twins: the same code once ``async``/``await`` are removed.

Like httpcore's ``unasync.py --check``: the executor section of ``async_client.py``,
with its async spellings mapped to the sync ones, must equal ``client.py``'s, except
for the one method that has to differ (closing a response: the async one shields the
close from cancellation and finishes httpx's nested async generators).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import streamkit

SRC = Path(streamkit.__file__).parent
START = "# ---- executor (twin of"
END = "# ---- end of the executor twin"
ALLOWED_TO_DIFFER = {"_close_response"}

ASYNC_TO_SYNC = [
    (r"\bAsyncStreamingClient\b", "StreamingClient"),
    (r"\bAsyncStream\b", "Stream"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\banext\b", "next"),
    (r"\babody_pieces\b", "body_pieces"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baclosing\b", "closing"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\basync def\b", "def"),
    (r"\bawait ", ""),
]


def code_lines(text: str, start: str, end: str) -> dict[str, list[str]]:
    """The code lines (no comments, docstrings or blanks) between two markers, by method."""
    section = text[text.index(start) : text.index(end)]
    methods: dict[str, list[str]] = {}
    current = "<class>"
    in_docstring = False
    for raw in section.splitlines()[1:]:
        line = raw.split("  #")[0].rstrip()
        stripped = line.strip()
        if stripped.startswith('"""'):
            if not (stripped.count('"""') == 2 and len(stripped) > 3):
                in_docstring = not in_docstring
            continue
        if in_docstring or not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"\s+(?:async )?def (\w+)", line)
        if match:
            current = match.group(1)
        methods.setdefault(current, []).append(line)
    return methods


def executor(path: Path) -> dict[str, list[str]]:
    """The executor section's code lines, by method."""
    return code_lines(path.read_text(), START, END)


def unasync(
    methods: dict[str, list[str]], extra: Sequence[tuple[str, str]] = ()
) -> dict[str, list[str]]:
    """``methods`` with their async spellings mapped to the sync ones (``extra`` first)."""
    rules = [*extra, *ASYNC_TO_SYNC]
    out: dict[str, list[str]] = {}
    for name, lines in methods.items():
        new_lines = []
        for line in lines:
            for pattern, replacement in rules:
                line = re.sub(pattern, replacement, line)
            new_lines.append(line)
        for pattern, replacement in rules:
            name = re.sub(pattern, replacement, name)
        out[name] = new_lines
    return out


def test_the_executors_are_twins() -> None:
    sync = executor(SRC / "client.py")
    async_ = unasync(executor(SRC / "async_client.py"))
    assert set(sync) == set(async_)
    for name in sorted(set(sync) - ALLOWED_TO_DIFFER):
        assert sync[name] == async_[name], name


def test_the_executor_is_short() -> None:
    # turning actions into library calls: everything else belongs to the core
    lines = sum(len(v) for v in executor(SRC / "client.py").values())
    assert lines < 150, lines
