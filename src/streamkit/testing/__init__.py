"""A real local LLM streaming server with fault injection, for tests and demos.

``LocalServer`` replays a recorded SSE transcript over real HTTP (starlette + uvicorn on
``127.0.0.1``, an OS-assigned port, in a background thread) and, on command, breaks it the way
networks and providers do: cut connections, stalls, slow drips, 429/5xx with ``Retry-After``,
duplicated or reordered events, malformed JSON, invalid UTF-8, oversize lines, in-band errors,
and a different generation on retry. It honours ``Last-Event-ID``, ``starting_after`` and
assistant prefill, and records every request.

Example::

    import httpx
    from streamkit.testing import Fault, LocalServer

    faults = [Fault.status(429, {"Retry-After": "1"}), Fault.cut(after_events=20)]
    with LocalServer(faults=faults) as server:
        httpx.post(f"{server.base_url}/chat/completions", json={})  # 429
        ...  # the second request is cut after 20 events, the third is served normally
        assert server.attempts == 2

See ``docs/testing.md`` for every fault.

Needs the ``testing`` extra: ``pip install streamkit[testing]``.
"""

from streamkit.testing._faults import Fault

try:
    from streamkit.testing._server import LocalServer, RecordedRequest, Transcript
except ModuleNotFoundError as exc:  # pragma: no cover - only without the extra
    if exc.name not in ("starlette", "uvicorn"):
        raise
    raise ModuleNotFoundError(
        f"streamkit.testing needs {exc.name}: pip install 'streamkit[testing]'", name=exc.name
    ) from exc
from streamkit.testing._transcripts import (
    DEMO_TEXT,
    Dialect,
    demo_anthropic_transcript,
    demo_responses_transcript,
    demo_transcript,
    load_transcript,
)

__all__ = [
    "DEMO_TEXT",
    "Dialect",
    "Fault",
    "LocalServer",
    "RecordedRequest",
    "Transcript",
    "demo_anthropic_transcript",
    "demo_responses_transcript",
    "demo_transcript",
    "load_transcript",
]
