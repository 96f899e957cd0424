"""streamkit.testing: the local server serves transcripts byte for byte and every fault does
what it says. Checked with plain httpx, and expected bytes are computed here by splitting the
recordings on blank lines, not with the server's own splitter."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamkit.testing import (
    DEMO_TEXT,
    Fault,
    LocalServer,
    RecordedRequest,
    demo_anthropic_transcript,
    demo_responses_transcript,
    demo_transcript,
    load_transcript,
)
from streamkit.testing._planner import Abort, Sleep, StreamReply, Write, plan_reply
from streamkit.testing._transcripts import split_blocks

from conftest import REAL_DIR, real_dir

FIXTURES = REAL_DIR
OPENAI = "openai-chat-text-include-usage.sse"
CHAT = "/chat/completions"


def fixture(name: str) -> Path:
    return real_dir() / name


def events_of(body: bytes) -> list[bytes]:
    """Split an LF-framed body into blank-line-terminated events (independent of the server)."""
    parts = body.split(b"\n\n")
    assert parts[-1] == b"", "expected a body ending in a blank line"
    return [part + b"\n\n" for part in parts[:-1]]


def payloads(body: bytes) -> list[Any]:
    out = []
    for event in events_of(body):
        for line in event.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def chat_text(body: bytes) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for payload in payloads(body)
        for choice in payload.get("choices", [])
    )


def anthropic_text(body: bytes) -> str:
    return "".join(
        p["delta"]["text"] for p in payloads(body) if p.get("type") == "content_block_delta"
    )


_client: httpx.Client | None = None


@pytest.fixture(scope="module", autouse=True)
def _shared_client() -> Iterator[None]:
    """One httpx client for the module: creating one costs tens of milliseconds (TLS setup)."""
    global _client
    _client = httpx.Client()
    yield
    _client.close()
    _client = None


def fetch(
    server: LocalServer,
    method: str = "POST",
    path: str = CHAT,
    *,
    read_timeout: float = 5.0,
    **kwargs: Any,
) -> tuple[httpx.Response, bytes, Exception | None]:
    """Stream one response; return it, the body bytes received, and the error that ended it."""
    assert _client is not None
    got = bytearray()
    timeout = httpx.Timeout(5.0, read=read_timeout)
    url = server.base_url + path
    try:
        with _client.stream(method, url, timeout=timeout, **kwargs) as response:
            for piece in response.iter_bytes():
                got += piece
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
        return response, bytes(got), exc
    return response, bytes(got), None


# --- demo transcripts ----------------------------------------------------------------------------


def test_demo_transcript_is_realistic_and_deterministic() -> None:
    body = demo_transcript()
    assert body == demo_transcript()
    assert body.endswith(b"data: [DONE]\n\n")
    chunks = payloads(body)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["id"].startswith("chatcmpl-demo")
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"gpt-4.1"}
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert all(c["choices"][0]["finish_reason"] is None for c in content)
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens"] == 24
    assert usage["completion_tokens"] == len(content)
    assert usage["total_tokens"] == 24 + len(content)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert chat_text(body) == DEMO_TEXT
    assert 150 <= len(DEMO_TEXT.split()) <= 250
    assert DEMO_TEXT.startswith("## ")
    assert "\n- " in DEMO_TEXT
    assert [c["choices"][0]["delta"]["content"] for c in content[2:5]] == [
        " Why",
        " streaming",
        " needs",
    ]
    custom = demo_transcript(model="m", text="Hi there, you.")
    assert chat_text(custom) == "Hi there, you."
    assert payloads(custom)[-1]["usage"]["completion_tokens"] == 5  # Hi, " there", ",", " you", "."


def test_demo_anthropic_and_responses_transcripts() -> None:
    body = demo_anthropic_transcript()
    types = [p["type"] for p in payloads(body)]
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert anthropic_text(body) == DEMO_TEXT
    assert payloads(body)[-2]["delta"]["stop_reason"] == "end_turn"
    assert all(e.startswith(b"event: ") for e in events_of(body))

    responses = payloads(demo_responses_transcript())
    assert [p["sequence_number"] for p in responses] == list(range(len(responses)))
    deltas = [p["delta"] for p in responses if p["type"] == "response.output_text.delta"]
    assert "".join(deltas) == DEMO_TEXT
    assert responses[-1]["type"] == "response.completed"
    assert responses[-1]["response"]["usage"]["output_tokens"] == len(deltas)


def test_load_transcript(tmp_path: Path) -> None:
    path = tmp_path / "x.sse"
    path.write_bytes(b"data: 1\r\n\r\n")
    assert load_transcript(path) == load_transcript(str(path)) == b"data: 1\r\n\r\n"
    assert load_transcript("demo") == demo_transcript()
    assert load_transcript("demo-anthropic") == demo_anthropic_transcript()
    with pytest.raises(FileNotFoundError):
        load_transcript(tmp_path / "missing.sse")


# --- normal serving ----------------------------------------------------------------------------


def test_serves_a_recording_byte_exact_as_event_stream() -> None:
    body = fixture(OPENAI).read_bytes()
    with LocalServer(fixture(OPENAI)) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        response, got, error = fetch(server, json={"model": "gpt-4o", "stream": True})
    assert error is None
    assert got == body
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["x-request-id"] == "req_local0000"


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_every_recording_is_served_byte_exact(chunk_size: int | None) -> None:
    names = sorted(p.name for p in fixture(OPENAI).parent.glob("*.sse"))
    assert len(names) >= 40
    if chunk_size is not None:  # tiny writes are slow: a few recordings with every framing
        names = [OPENAI, "gemini-native-text-crlf.sse", "anthropic-messages-tool-use.sse"]
    with LocalServer(b"", chunk_size=chunk_size) as server:
        for name in names:
            server.set_transcript(FIXTURES / name)
            _, got, error = fetch(server)
            assert error is None
            assert got == (FIXTURES / name).read_bytes(), name
        assert server.attempts == len(names)


def test_default_transcript_any_method_and_path() -> None:
    with LocalServer() as server:
        for method, path in [
            ("POST", "/messages"),
            ("POST", "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            ("GET", "/anything/else"),
            ("PUT", "/x"),
        ]:
            _, got, error = fetch(server, method, path)
            assert error is None
            assert got == demo_transcript()
    with LocalServer(dialect="anthropic-messages") as server:
        assert fetch(server, path="/messages")[1] == demo_anthropic_transcript()


def test_requests_are_recorded_in_order() -> None:
    with LocalServer() as server:
        with httpx.Client(base_url=server.base_url) as client:
            client.post(
                CHAT,
                json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]},
                headers={"Authorization": "Bearer sk-test", "Idempotency-Key": "abc-1"},
            )
            client.get("/responses/resp_1", params={"stream": "true", "starting_after": "3"})
            client.post(CHAT, content=b"not json", headers={"Last-Event-ID": "7"})
        requests = server.requests
        assert server.attempts == 3
    first, second, third = requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", "")
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.headers["idempotency-key"] == "abc-1"
    assert all(name == name.lower() for name in first.headers)
    assert first.json["messages"][0]["content"] == "Hi"
    assert (second.method, second.path) == ("GET", "/v1/responses/resp_1")
    assert second.query == "stream=true&starting_after=3"
    assert second.json is None
    assert third.json is None
    assert third.body == b"not json"
    assert third.headers["last-event-id"] == "7"


# --- byte faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("after_bytes", [0, 1, 1000, 10**9])
def test_cut_drops_the_connection_after_exactly_n_bytes(after_bytes: int) -> None:
    body = demo_transcript()
    with LocalServer(faults=[Fault.cut(after_bytes)]) as server:
        _, got, error = fetch(server)
        assert isinstance(error, httpx.RemoteProtocolError)
        assert "peer closed connection without sending complete message body" in str(error)
        assert got == body[:after_bytes]
        # the next attempt is served normally
        assert fetch(server)[1:] == (body, None)


def test_cut_after_events() -> None:
    body = fixture(OPENAI).read_bytes()
    with LocalServer(body, faults=[Fault.cut(after_events=3)]) as server:
        _, got, error = fetch(server)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert got == b"".join(events_of(body)[:3])


def test_stall_makes_a_reader_with_a_short_read_timeout_time_out() -> None:
    body = demo_transcript()
    with LocalServer(faults=[Fault.stall(500, 2.0)]) as server:
        _, got, error = fetch(server, read_timeout=0.2)
        assert isinstance(error, httpx.ReadTimeout)
        assert got == body[:500]
        thread = server._thread
    assert thread is not None
    assert not thread.is_alive()


def test_stall_then_continues() -> None:
    body = demo_transcript()
    with LocalServer(faults=[Fault.stall(after_events=2, seconds=0.3)]) as server:
        _, got, error = fetch(server, read_timeout=3.0)
    assert error is None
    assert got == body


def test_stop_cuts_a_long_stall_short() -> None:
    results: list[Exception | None] = []
    server = LocalServer(faults=[Fault.stall(100, 60.0)]).start()

    def read() -> None:
        results.append(fetch(server, read_timeout=30.0)[2])

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 5
    while server.attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(30)  # a liveness bound, not a measurement: the stall is 60 s
    assert not stopper.is_alive(), "stop() waited for the stalled stream"
    reader.join(5)
    assert not reader.is_alive()
    assert isinstance(results[0], httpx.RemoteProtocolError)


def test_drip_sends_the_whole_body_in_small_pieces() -> None:
    body = fixture(OPENAI).read_bytes()
    with LocalServer(body, faults=[Fault.drip(200, 0.001)]) as server:
        assert fetch(server)[1:] == (body, None)
    reply = plan_reply(Fault.drip(200, 0.5), split_blocks(body), dialect="openai-chat")
    assert isinstance(reply, StreamReply)
    steps = list(reply.steps)
    writes = [s.data for s in steps if isinstance(s, Write)]
    assert b"".join(writes) == body
    assert {len(w) for w in writes[:-1]} == {200}
    assert steps[1::2] == [Sleep(0.5)] * (len(writes) - 1)


def test_chunk_size_and_delay_plan() -> None:
    body = demo_transcript()
    blocks = split_blocks(body)
    reply = plan_reply(None, blocks, dialect="openai-chat", chunk_size=64, delay_s=0.02)
    assert isinstance(reply, StreamReply)
    steps = list(reply.steps)
    writes = [s.data for s in steps if isinstance(s, Write)]
    assert b"".join(writes) == body
    assert {len(w) for w in writes[:-1]} == {64}
    assert steps[1] == Sleep(0.02)
    reply = plan_reply(None, blocks, dialect="openai-chat")
    assert isinstance(reply, StreamReply)
    assert [s.data for s in reply.steps if isinstance(s, Write)] == events_of(body)
    reply = plan_reply(Fault.cut(10), blocks, dialect="openai-chat", chunk_size=4)
    assert isinstance(reply, StreamReply)
    assert list(reply.steps) == [Write(body[:4]), Write(body[4:8]), Write(body[8:10]), Abort()]


def test_huge_line_is_streamed_without_a_line_end() -> None:
    size = 2 * 1024 * 1024
    with (
        LocalServer(faults=[Fault.huge_line(size)]) as server,
        httpx.Client(base_url=server.base_url) as client,
        client.stream("POST", CHAT) as response,
    ):
        received = 0
        head = b""
        for piece in response.iter_bytes():
            if not head:
                head = piece[:6]
            assert b"\n" not in piece
            assert b"\r" not in piece
            received += len(piece)
            if received >= size + len(b"data: "):
                break  # stop early; do not hold the body
    assert head == b"data: "
    assert received >= size


def test_huge_line_after_events() -> None:
    body = fixture(OPENAI).read_bytes()
    reply = plan_reply(
        Fault.huge_line(100_000, after_events=2), split_blocks(body), dialect="openai-chat"
    )
    assert isinstance(reply, StreamReply)
    sent = b"".join(s.data for s in reply.steps if isinstance(s, Write))
    prefix = b"".join(events_of(body)[:2])
    assert sent == prefix + b"data: " + b"x" * 100_000


# --- whole-reply faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "header"),
    [
        (Fault.status(429, {"Retry-After": "1"}), 429, ("retry-after", "1")),
        (Fault.status(503, {"retry-after-ms": "200"}), 503, ("retry-after-ms", "200")),
        (Fault.status(529), 529, ("content-type", "application/json")),
    ],
)
def test_status_faults(fault: Fault, status: int, header: tuple[str, str]) -> None:
    with LocalServer(faults=[fault]) as server, httpx.Client(base_url=server.base_url) as client:
        response = client.post(CHAT, json={})
        assert response.status_code == status
        assert response.headers[header[0]] == header[1]
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"] == "req_local0000"
        assert isinstance(response.json()["error"]["message"], str)
        assert client.post(CHAT, json={}).content == demo_transcript()
        assert server.attempts == 2


def test_status_fault_bodies() -> None:
    custom = {"error": {"message": "bad key", "type": "invalid_request_error", "code": "x"}}
    faults = [Fault.status(401), Fault.status(401, body=custom), Fault.status(500, body=b"oops")]
    with LocalServer(faults=faults) as server, httpx.Client(base_url=server.base_url) as client:
        default = client.post(CHAT).json()["error"]
        assert default["type"] == "invalid_request_error"
        assert default["code"] == "invalid_api_key"
        assert set(default) == {"message", "type", "param", "code"}
        assert client.post(CHAT).json() == custom
        assert client.post(CHAT).content == b"oops"
    with (
        LocalServer(dialect="anthropic-messages", faults=[Fault.status(529)]) as server,
        httpx.Client(base_url=server.base_url) as client,
    ):
        response = client.post("/messages")
        assert response.json() == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
        assert response.headers["request-id"] == "req_local0000"
    with LocalServer(b"", dialect="gemini", faults=[Fault.status(429)]) as server:
        response, got, _ = fetch(server, path="/models/gemini-2.5-flash:streamGenerateContent")
    assert response.status_code == 429
    assert json.loads(got)["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_content_type_fault() -> None:
    faults = [Fault.content_type(), Fault.content_type("text/html", body=b"<html>")]
    with LocalServer(faults=faults) as server, httpx.Client(base_url=server.base_url) as client:
        response = client.post(CHAT)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["object"] == "chat.completion"
        response = client.post(CHAT)
        assert (response.headers["content-type"], response.content) == ("text/html", b"<html>")


# --- event faults ------------------------------------------------------------------------------


def test_duplicate_and_reorder() -> None:
    body = fixture(OPENAI).read_bytes()
    ev = events_of(body)
    with LocalServer(body, faults=[Fault.duplicate(2), Fault.reorder(1, 3)]) as server:
        assert fetch(server)[1] == b"".join([*ev[:3], ev[2], *ev[3:]])
        assert fetch(server)[1] == b"".join([ev[0], ev[3], ev[2], ev[1], *ev[4:]])


def test_malformed_json() -> None:
    body = fixture(OPENAI).read_bytes()
    ev = events_of(body)
    with LocalServer(body, faults=[Fault.malformed_json(4)]) as server:
        got = fetch(server)[1]
    assert got == b"".join([*ev[:4], b'data: {"choices": [\n\n', *ev[5:]])


def test_invalid_utf8_inside_the_text() -> None:
    body = fixture(OPENAI).read_bytes()
    ev = events_of(body)
    with LocalServer(body, faults=[Fault.invalid_utf8(1), Fault.invalid_utf8(0)]) as server:
        got = fetch(server)[1]
        other = fetch(server)[1]
    bad = events_of(got)[1]
    assert got.replace(bad, b"") == body.replace(ev[1], b"")
    assert b"\xff\xfe" in bad
    with pytest.raises(UnicodeDecodeError):
        bad.decode()
    fixed = json.loads(bad.decode("utf-8", "replace")[6:])
    assert fixed["choices"][0]["delta"]["content"] == "I'm\ufffd\ufffd"
    assert b"\xff\xfe" in events_of(other)[0]
    assert events_of(other)[1:] == ev[1:]


def test_error_event_openai_and_anthropic() -> None:
    body = fixture(OPENAI).read_bytes()
    ev = events_of(body)
    with LocalServer(body, faults=[Fault.error_event(3)]) as server:
        got = fetch(server)[1]
    error = b'event: error\ndata: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n'
    assert got == b"".join([*ev[:3], error, *ev[3:]])

    anthropic = demo_anthropic_transcript()
    with LocalServer(
        anthropic, dialect="anthropic-messages", faults=[Fault.error_event(5, {"x": 1})]
    ) as server:
        got = fetch(server)[1]
        assert server.requests[0].path == "/v1/chat/completions"
    assert events_of(got)[5] == b'event: error\ndata: {"x":1}\n\n'
    with LocalServer(anthropic, dialect="anthropic-messages", faults=[Fault.error_event(5)]) as s:
        event = events_of(fetch(s)[1])[5]
    assert event.startswith(b"event: error\ndata: ")
    assert json.loads(event[len(b"event: error\ndata: ") :]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_diverge_changes_the_text_from_event_k_on() -> None:
    body = demo_transcript()
    ev = events_of(body)
    with LocalServer(body, faults=[Fault.diverge(10)]) as server:
        got = fetch(server)[1]
    new = events_of(got)
    assert len(new) == len(ev)
    assert new[:10] == ev[:10]
    assert chat_text(b"".join(new[10:])) != chat_text(b"".join(ev[10:]))
    # upper-cased, or "*" appended where upper-casing changes nothing ("A", punctuation)
    assert chat_text(b"".join(ev[10:14])) == "A streamed answer arrives"
    assert chat_text(b"".join(new[10:])).startswith("A* STREAMED ANSWER ARRIVES")
    for old_payload, new_payload in zip(payloads(body)[10:], payloads(got)[10:], strict=True):
        old_choices, new_choices = old_payload["choices"], new_payload["choices"]
        if old_choices and old_choices[0]["delta"].get("content"):
            assert new_choices[0]["delta"]["content"] != old_choices[0]["delta"]["content"]
        else:
            assert new_payload == old_payload  # framing untouched


def test_combined_cut_of_a_diverged_body() -> None:
    body = demo_transcript()
    fault = Fault.combine(Fault.diverge(3), Fault.cut(2000))
    with LocalServer(body, faults=[fault]) as server:
        _, got, error = fetch(server)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(got) == 2000
    assert got[:200] == body[:200]
    assert got != body[:2000]


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Fault.cut()
    with pytest.raises(ValueError, match="exactly one"):
        Fault.stall(10, 1.0, after_events=1)
    with pytest.raises(ValueError, match="replace the reply"):
        Fault.combine(Fault.status(429), Fault.cut(1))
    with pytest.raises(ValueError, match="at most one"):
        Fault.combine(Fault.cut(1), Fault.cut(2))
    with pytest.raises(IndexError):
        plan_reply(Fault.duplicate(99), split_blocks(b"data: 1\n\n"), dialect="openai-chat")
    with LocalServer(b"data: 1\n\n", faults=[Fault.reorder(0, 5)]) as server:
        response, got, _ = fetch(server)
    assert response.status_code == 500
    assert "does not fit this attempt" in json.loads(got)["error"]["message"]
    with pytest.raises(ValueError, match="dialect"):
        LocalServer(dialect="nope")  # type: ignore[arg-type]


# --- resumption --------------------------------------------------------------------------------


def test_add_ids_and_last_event_id() -> None:
    body = fixture(OPENAI).read_bytes()
    ev = events_of(body)
    with LocalServer(body, add_ids=True) as server:
        full = fetch(server)[1]
        resumed = fetch(server, headers={"Last-Event-ID": "3"})[1]
    numbered = events_of(full)
    assert [e.split(b"\n", 1)[0] for e in numbered[:3]] == [b"id: 1", b"id: 2", b"id: 3"]
    assert [e.split(b"\n", 1)[1] for e in numbered] == ev
    assert resumed == b"".join(numbered[3:])
    assert resumed.startswith(b"id: 4\n")


def test_last_event_id_is_ignored_without_add_ids() -> None:
    body = fixture(OPENAI).read_bytes()
    with LocalServer(body) as server:
        assert fetch(server, headers={"Last-Event-ID": "3"})[1] == body


def test_starting_after_resumes_a_responses_stream() -> None:
    body = fixture("openai-responses-text.sse").read_bytes()
    with LocalServer(body, dialect="openai-responses") as server:
        got = fetch(
            server, "GET", "/responses/resp_1", params={"stream": "true", "starting_after": 3}
        )[1]
    numbers = [p["sequence_number"] for p in payloads(got)]
    assert numbers[0] == 4
    assert numbers == [n for n in (p["sequence_number"] for p in payloads(body)) if n > 3]
    assert got == b"".join(e for e in events_of(body) if e in got)


def openai_prefill(text: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Weather in SF?"},
            {"role": "assistant", "content": text},
        ],
    }


def test_prefill_openai_chat_continues_mid_delta() -> None:
    body = fixture(OPENAI).read_bytes()
    text = chat_text(body)
    prefix = "I'm unab"  # the deltas are "I'm", " unable", ...: this ends inside the second
    with LocalServer(body) as server:
        got = fetch(server, json=openai_prefill(prefix))[1]
        exact = fetch(server, json=openai_prefill("I'm unable"))[1]
        everything = fetch(server, json=openai_prefill(text))[1]
    assert chat_text(got) == text[len(prefix) :]
    chunks = payloads(got)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[1]["choices"][0]["delta"]["content"] == "le"
    assert chunks[2]["choices"][0]["delta"]["content"] == " to"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 30
    assert got.endswith(b"data: [DONE]\n\n")
    assert chat_text(exact) == text[len("I'm unable") :]
    assert events_of(exact)[1:] == events_of(body)[3:]  # whole events, byte-exact
    assert chat_text(everything) == ""
    assert everything.endswith(b"data: [DONE]\n\n")


def test_prefill_mismatch_is_a_400_json_error() -> None:
    body = fixture(OPENAI).read_bytes()
    with LocalServer(body) as server, httpx.Client(base_url=server.base_url) as client:
        response = client.post(CHAT, json=openai_prefill("I am unable"))
        too_long = client.post(CHAT, json=openai_prefill(chat_text(body) + "!"))
    assert response.status_code == too_long.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "prefix" in error["message"]
    assert "longer" in too_long.json()["error"]["message"]


def test_prefill_anthropic_messages() -> None:
    body = fixture("anthropic-messages-text.sse").read_bytes()
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": "1+1?"},
            {"role": "assistant", "content": [{"type": "text", "text": "2"}]},
        ],
    }
    with LocalServer(body, dialect="anthropic-messages") as server:
        got = fetch(server, path="/messages", json=request)[1]
    assert [p["type"] for p in payloads(got)] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert got == b"".join(e for e in events_of(body) if b"content_block_delta" not in e)

    demo = demo_anthropic_transcript()
    request["messages"][-1]["content"] = DEMO_TEXT[:20]  # "## Why streaming nee"
    with LocalServer(demo, dialect="anthropic-messages") as server:
        got = fetch(server, path="/messages", json=request)[1]
    assert anthropic_text(got) == DEMO_TEXT[20:]
    deltas = [p for p in payloads(got) if p["type"] == "content_block_delta"]
    assert deltas[0]["delta"]["text"] == "ds"
    assert payloads(got)[-1]["type"] == "message_stop"


# --- lifecycle ---------------------------------------------------------------------------------


def test_two_servers_at_once_get_different_ports() -> None:
    with LocalServer() as one, LocalServer(dialect="anthropic-messages") as two:
        assert one.port != two.port
        assert one.base_url.startswith("http://127.0.0.1:")
        assert fetch(one)[1] == demo_transcript()
        assert fetch(two)[1] == demo_anthropic_transcript()


def test_stop_is_clean_and_restartable() -> None:
    before = set(threading.enumerate())
    server = LocalServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.start()
    port, thread = server.port, server._thread
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    assert fetch(server)[2] is None
    server.stop()
    server.stop()  # twice is fine
    assert thread is not None
    assert not thread.is_alive()
    assert not server.running
    assert set(threading.enumerate()) == before
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert len(server.requests) == 1  # still readable
    with server:
        assert fetch(server)[2] is None
        assert server.attempts == 2
    assert set(threading.enumerate()) == before


def test_set_faults_and_set_transcript() -> None:
    with LocalServer(b"data: 1\n\n", faults=[Fault.status(500)]) as server:
        assert fetch(server)[0].status_code == 500
        server.set_faults([None, Fault.cut(3)])
        assert fetch(server)[1:] == (b"data: 1\n\n", None)
        server.set_transcript(b"data: 2\n\n")
        _, got, error = fetch(server)
        assert (got, type(error)) == (b"dat", httpx.RemoteProtocolError)
        assert fetch(server)[1] == b"data: 2\n\n"


def test_fault_vocabulary_is_written_once() -> None:
    """``Fault.<kind>`` is the dataclass of that kind: one definition, one docstring."""
    import re

    from streamkit.testing import _faults

    kinds = {name for name in _faults.__all__ if name not in ("Fault", "Combined")}
    assert len(kinds) >= 12  # more kinds may join (the WebSocket ones)
    for name in kinds:
        cls = getattr(_faults, name)
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("utf8", "_utf8")
        assert getattr(Fault, snake.replace("__", "_")) is cls
        assert issubclass(cls, Fault)
        assert cls.__doc__ and f"Fault.{snake.replace('__', '_')}(" in cls.__doc__
    assert Fault.cut(after_events=2) == _faults.Cut(None, after_events=2)
    assert Fault.status(429).headers == {}
