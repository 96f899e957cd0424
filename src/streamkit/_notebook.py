"""Where a live view is drawn: an IPython display handle, or plain stdout."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["open_view"]


class _IPythonView:
    def __init__(self) -> None:
        from IPython.display import Markdown, display

        self._markdown = Markdown
        self._handle: Any = display(Markdown("…"), display_id=True)  # type: ignore[no-untyped-call]

    def update(self, markdown: str, *, final: bool = False) -> None:
        self._handle.update(self._markdown(markdown))  # type: ignore[no-untyped-call]


class _PlainView:
    """Outside IPython: print the final rendering once."""

    def update(self, markdown: str, *, final: bool = False) -> None:
        if final:
            sys.stdout.write(markdown + "\n")
            sys.stdout.flush()


def open_view() -> _IPythonView | _PlainView:
    """An IPython display handle when running under IPython, else a plain printer."""
    try:
        from IPython import get_ipython
    except ImportError:
        return _PlainView()
    if get_ipython() is None:
        return _PlainView()
    return _IPythonView()
