"""A griffe extension for the docs build: render the Sphinx roles of streamkit's docstrings.

The docstrings are Google style but cross-reference with reST roles
(``:class:`~streamkit.CostTracker```, ``:meth:`feed```) and end paragraphs that introduce
an example with ``::``. mkdocstrings renders Markdown, where those show up literally. This
extension rewrites them before rendering: a role becomes an optional autorefs link (a
link when the target is documented, plain code otherwise, never a warning), with the
target resolved in the scope of the object the docstring belongs to; ``text::`` becomes
``text:``.

Used by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):`(?P<target>[^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?m)(\S)::[ \t]*$")


def _resolve(obj: griffe.Object, name: str) -> str:
    """The full path of ``name`` as seen from ``obj`` (``name`` itself when unknown)."""
    if name.startswith("streamkit."):
        return name
    head, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            path = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            scope = scope.parent
            continue
        return f"{path}.{rest}" if rest else path
    return name


def _render(obj: griffe.Object, target: str) -> str:
    target = target.strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", target)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        title = None
    short = target.startswith("~")
    target = target.lstrip("~.")
    identifier = _resolve(obj, target.removesuffix("()"))
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def _plain(target: str) -> str:
    """A role's text inside a code block, where no link can go: ``~a.B`` → ``B``."""
    target = re.sub(r".*<([^>]+)>$", r"\1", target.strip())
    return target.lstrip("~.").rsplit(".", 1)[-1] if target.startswith("~") else target


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rewrite_text(obj: griffe.Object, text: str) -> str:
    """Rewrite roles (links in prose, plain names in code blocks) and ``::`` endings."""
    out: list[str] = []
    literal_indent: int | None = None  # indentation of the paragraph that opened a block
    for line in text.splitlines():
        if literal_indent is not None and line.strip() and _indent(line) <= literal_indent:
            literal_indent = None
        in_code = literal_indent is not None or line.lstrip().startswith((">>>", "..."))
        if in_code:
            out.append(_ROLE.sub(lambda m: _plain(m["target"]), line))
            continue
        if _LITERAL_BLOCK.search(line):
            literal_indent = _indent(line)
            line = _LITERAL_BLOCK.sub(r"\1:", line)
        out.append(_ROLE.sub(lambda m: _render(obj, m["target"]), line))
    return "\n".join(out)


def _rewrite(obj: griffe.Object) -> None:
    docstring = obj.docstring
    if docstring is not None:
        docstring.value = _rewrite_text(obj, docstring.value)


class SphinxRoles(griffe.Extension):
    """Rewrite reST roles and ``::`` in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package once it is loaded (aliases are skipped: their targets are seen)."""
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            _rewrite(obj)
            stack.extend(
                member for member in obj.members.values() if not isinstance(member, griffe.Alias)
            )
