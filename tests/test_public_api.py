"""The public API as a contract: exports, twin signatures, layering, secrets."""

from __future__ import annotations

import inspect
import subprocess
import sys

import streamkit as sk

#: The modules allowed to import I/O libraries: the executors and the optional layers.
#: Every other module of the package is sans-I/O, new ones included (deny by default).
IO_MODULES = ("client", "async_client", "_httpx", "transport", "limiter", "websocket", "cli")
IO_PACKAGES = ("testing", "relay")


def core_modules() -> list[str]:
    import pkgutil

    names = []
    for info in pkgutil.walk_packages(sk.__path__, prefix="streamkit."):
        name = info.name.removeprefix("streamkit.")
        top = name.split(".")[0]
        if top in IO_MODULES or top in IO_PACKAGES or top == "__main__":
            continue
        names.append(name)
    return sorted(names)


CORE = core_modules()


def test_all_is_sorted_and_complete() -> None:
    assert list(sk.__all__) == sorted(sk.__all__)
    for name in sk.__all__:
        assert hasattr(sk, name), name
    public = {n for n, v in vars(sk).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert public <= set(sk.__all__), public - set(sk.__all__)


def test_twin_signatures_match() -> None:
    pairs = [
        (sk.StreamingClient.__init__, sk.AsyncStreamingClient.__init__),
        (sk.StreamingClient.stream, sk.AsyncStreamingClient.stream),
    ]
    for sync_fn, async_fn in pairs:
        s = inspect.signature(sync_fn)
        a = inspect.signature(async_fn)
        assert list(s.parameters) == list(a.parameters)
        for name in s.parameters:
            assert s.parameters[name].default == a.parameters[name].default, name
            assert s.parameters[name].kind == a.parameters[name].kind, name
    renamed = {"close": "aclose", "display": "adisplay"}
    sync_methods = {renamed.get(m, m) for m in dir(sk.Stream) if not m.startswith("_")}
    async_methods = {m for m in dir(sk.AsyncStream) if not m.startswith("_")}
    assert sync_methods == async_methods


def test_core_imports_neither_httpx_nor_anyio() -> None:
    # load the core modules under a bare parent package, so that streamkit/__init__.py
    # (which imports the client shells) does not run
    code = "\n".join(
        [
            "import importlib, importlib.util, sys, types",
            "spec = importlib.util.find_spec('streamkit')",
            "pkg = types.ModuleType('streamkit')",
            "pkg.__path__ = list(spec.submodule_search_locations)",
            "sys.modules['streamkit'] = pkg",
            f"for name in {CORE!r}:",
            "    importlib.import_module('streamkit.' + name)",
            "bad = sorted(m for m in ('httpx', 'anyio') if m in sys.modules)",
            "print('LOADED', len([m for m in sys.modules if m.startswith('streamkit.')]))",
            "assert not bad, bad",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) >= len(CORE)


def test_events_are_frozen_and_discriminated() -> None:
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(sk.DeltaEvent)
    event = adapter.validate_python({"type": "text", "text": "hi", "index": 2})
    assert event == sk.TextDelta(text="hi", index=2)
    try:
        event.text = "changed"  # type: ignore[misc]
    except ValidationError:
        pass
    else:  # pragma: no cover
        raise AssertionError("events must be frozen")
    tool = adapter.validate_json('{"type": "tool_call", "tool_index": 1, "arguments": "{"}')
    assert isinstance(tool, sk.ToolCallDelta)
