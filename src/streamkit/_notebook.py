"""Where a live view is drawn: an IPython display handle, or plain stdout.

:class:`LiveDisplay` is what ``Stream.display()`` and ``AsyncStream.adisplay()``
drive (one body for both shells: only their loops differ)::

    with LiveDisplay(self.snapshot, throttle_s=throttle_s) as live:
        for event in self:                  # async for, in the async twin
            live.on_event(event, clock())
        return live.finish(self.result)

It guarantees, whatever happens to the stream:

- the view always ends without the cursor: :meth:`LiveDisplay.finish` draws the
  final result, and an exception leaving the ``with`` block (a 401 before any text,
  a stream broken for good, Ctrl-C) draws the text so far with the failure under it,
  then propagates;
- ``text/plain`` (what a console, an email of the notebook or a text-only front end
  shows) is the text itself, not ``<IPython.core.display.Markdown object>``;
- ``s.display()`` as the last line of a cell shows the answer once: the live view
  is the answer, so IPython does not draw the returned :class:`StreamResult` again
  as the cell's output (it is still returned, and any other display of it, or of
  another result, in a later cell is drawn as usual).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from streamkit._display import DEFAULT_THROTTLE_S, LiveView

if TYPE_CHECKING:
    from streamkit.events import DeltaEvent
    from streamkit.result import StreamResult

__all__ = ["LiveDisplay", "open_view"]


class _Target(Protocol):
    def update(self, markdown: str, *, final: bool = False, plain: str | None = None) -> None: ...

    def shown(self, result: StreamResult) -> None: ...


def _bundle(markdown: str, plain: str | None) -> dict[str, str]:
    return {"text/markdown": markdown, "text/plain": markdown if plain is None else plain}


class _IPythonView:
    """A display handle updated in place; the data is a raw Markdown + plain bundle."""

    def __init__(self, shell: Any) -> None:
        from IPython.display import display

        self._shell = shell
        self._handle: Any = display(_bundle("…", "…"), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def update(self, markdown: str, *, final: bool = False, plain: str | None = None) -> None:
        self._handle.update(_bundle(markdown, plain), raw=True)

    def shown(self, result: StreamResult) -> None:
        _SHOWN_ONCE.register(self._shell, result)


class _PlainView:
    """Outside IPython: print the final rendering once."""

    def update(self, markdown: str, *, final: bool = False, plain: str | None = None) -> None:
        if final:
            sys.stdout.write(markdown + "\n")
            sys.stdout.flush()

    def shown(self, result: StreamResult) -> None:
        pass


def open_view() -> _IPythonView | _PlainView:
    """An IPython display handle when running under IPython, else a plain printer."""
    try:
        from IPython import get_ipython
    except ImportError:
        return _PlainView()
    shell = get_ipython()
    if shell is None:
        return _PlainView()
    return _IPythonView(shell)


class _ShownOnce:
    """Keeps IPython from drawing a result again that a live view in this cell drew.

    A printer for :class:`StreamResult` on IPython's ``ipython_display_formatter`` (the
    hook ``_ipython_display_`` uses) is registered while the cell runs and removed
    when it ends (``post_run_cell``). For a result a live view showed it draws
    nothing, once; any other result is displayed as usual.
    """

    def __init__(self) -> None:
        # id -> weak reference: results are not hashable (pydantic models with lists)
        self._results: dict[int, weakref.ref[Any]] = {}
        self._shell: Any = None  # the shell the printer is registered with

    def register(self, shell: Any, result: StreamResult) -> None:
        self._results[id(result)] = weakref.ref(result)
        if self._shell is shell:
            return
        if self._shell is not None:
            self._cell_done()
        self._shell = shell
        self._listen(True)
        shell.events.register("post_run_cell", self._cell_done)

    def _print(self, obj: Any) -> None:
        ref = self._results.get(id(obj))
        if ref is not None and ref() is obj:
            del self._results[id(obj)]  # shown once; displaying it again shows it
            return
        self._listen(False)  # not one a live view drew: display it as IPython would
        try:
            from IPython.display import display

            display(obj)  # type: ignore[no-untyped-call]
        finally:
            self._listen(True)

    def _cell_done(self, *_: object) -> None:
        shell, self._shell = self._shell, None
        self._results.clear()
        if shell is not None:
            self._listen(False, shell)
            shell.events.unregister("post_run_cell", self._cell_done)

    def _listen(self, on: bool, shell: Any = None) -> None:
        from streamkit.result import StreamResult

        shell = shell if shell is not None else self._shell
        formatter = shell.display_formatter.ipython_display_formatter
        if on:
            formatter.for_type(StreamResult, self._print)
        else:
            formatter.pop(StreamResult, None)


_SHOWN_ONCE = _ShownOnce()


class LiveDisplay:
    """One live view of one stream, from the first event to the final result or failure.

    Args:
        snapshot: returns the partial result so far (``Stream.snapshot``).
        throttle_s: at most one redraw per this many seconds (notes draw at once).
        target: where to draw (default: :func:`open_view`; tests pass their own).

    Use it as a context manager around the loop over the stream and return
    :meth:`finish`'s value from inside the block (see the module docstring).
    """

    def __init__(
        self,
        snapshot: Callable[[], StreamResult],
        *,
        throttle_s: float = DEFAULT_THROTTLE_S,
        target: _Target | None = None,
    ) -> None:
        self.view = LiveView(throttle_s=throttle_s)
        self._snapshot = snapshot
        self._target: _Target = target if target is not None else open_view()
        self._finished = False

    def __enter__(self) -> LiveDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and not self._finished:
            self.fail(exc)

    def on_event(self, event: DeltaEvent, now: float) -> None:
        """Take one event (``now``: the shell's clock, seconds); redraw when due."""
        view = self.view
        if view.on_event(event, now):
            snapshot = self._snapshot()
            self._target.update(view.markdown(snapshot), plain=view.plain(snapshot))
            view.drawn(now)

    def finish(self, result: StreamResult) -> StreamResult:
        """Draw the final view of ``result`` (no cursor) and return ``result``."""
        self._finished = True
        view = self.view
        self._target.update(
            view.markdown(result, final=True), final=True, plain=view.plain(result, final=True)
        )
        self._target.shown(result)
        return result

    def fail(self, error: BaseException) -> None:
        """Draw the text so far with ``error`` under it (no cursor); never raises."""
        self._finished = True
        view = self.view
        try:
            snapshot = self._snapshot()
            self._target.update(
                view.markdown(snapshot, error=error),
                final=True,
                plain=view.plain(snapshot, error=error),
            )
        except Exception:  # never hide the stream's own error behind one of ours
            pass
