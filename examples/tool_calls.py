"""Stream with tools: watch the calls arrive, run them, send the results back.

    python examples/tool_calls.py --local              # no key: a local server plays the model
    python examples/tool_calls.py --model gpt-4.1      # a real model ($OPENAI_API_KEY)

The model is asked about the weather in two cities and may call ``get_weather`` for
each. streamkit streams the calls as ``ToolCallDelta`` fragments and assembles them in
``stream.result.tool_calls``; ``ToolCall.parsed_arguments()`` gives the arguments as a
dict. The results go back as ``tool`` messages, and a second stream gives the answer.

With ``--local`` a ``streamkit.testing.LocalServer`` serves two transcripts generated
below, in OpenAI chat-completion-chunk format: first the two tool calls (arguments split
into pieces, as real models send them), then the final answer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import streamkit as sk

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    }
]

FAKE_WEATHER = {"Paris": (18, "light rain"), "Tokyo": (24, "sunny")}


def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """The tool itself (a stand-in for a real weather API)."""
    celsius, sky = FAKE_WEATHER.get(city, (20, "clear"))
    degrees = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": degrees, "unit": unit, "sky": sky}


# --- the transcripts the local server plays (OpenAI chat.completion.chunk events) -------------


def _chunks(model: str, deltas: Iterator[tuple[dict[str, Any], str | None]]) -> bytes:
    base = {"id": "chatcmpl-tools", "object": "chat.completion.chunk", "created": 0, "model": model}
    out = []
    for delta, finish in deltas:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        out.append(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n")
    return "".join(out).encode()


def _usage(model: str, prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    chunk = {"id": "chatcmpl-tools", "object": "chat.completion.chunk", "created": 0}
    chunk.update(model=model, choices=[], usage=usage)
    return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()


def tool_call_transcript(model: str = "gpt-4.1") -> bytes:
    """The model calls get_weather twice; each call's JSON arrives in several pieces."""

    def deltas() -> Iterator[tuple[dict[str, Any], str | None]]:
        yield {"role": "assistant", "content": None}, None
        calls = [
            ("call_paris", ['{"ci', 'ty": "Pa', 'ris", "un', 'it": "cel', 'sius"}']),
            ("call_tokyo", ['{"city"', ': "Tokyo", ', '"unit": "celsius"}']),
        ]
        for index, (call_id, pieces) in enumerate(calls):
            first = {"index": index, "id": call_id, "type": "function"}
            first["function"] = {"name": "get_weather", "arguments": ""}
            yield {"tool_calls": [first]}, None
            for piece in pieces:
                yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None
        yield {}, "tool_calls"

    return _chunks(model, deltas()) + _usage(model, 82, 46)


def answer_transcript(text: str, model: str = "gpt-4.1") -> bytes:
    """The model's final answer, word by word."""

    def deltas() -> Iterator[tuple[dict[str, Any], str | None]]:
        yield {"role": "assistant", "content": ""}, None
        for word in text.split(" "):
            yield {"content": word + " "}, None
        yield {}, "stop"

    return _chunks(model, deltas()) + _usage(model, 160, len(text.split(" ")))


LOCAL_ANSWER = (
    "In Paris it is 18 °C with light rain, so take an umbrella; in Tokyo it is 24 °C and sunny."
)


# --- the example -----------------------------------------------------------------------------


def stream_tool_calls(
    client: sk.StreamingClient, model: str, messages: list[dict[str, Any]]
) -> sk.StreamResult:
    """Stream the model's turn, printing tool-call fragments as they arrive."""
    with client.stream(model=model, messages=messages, tools=TOOLS) as stream:
        for event in stream:
            if isinstance(event, sk.ToolCallDelta):
                if event.name:  # the first fragment of a call carries its id and name
                    print(f"\n→ call #{event.tool_index} {event.id} {event.name}:", end="")
                if event.arguments:  # a piece of the JSON arguments
                    print(f" {event.arguments!r}", end="", flush=True)
            elif isinstance(event, sk.TextDelta):
                print(event.text, end="", flush=True)
    result = stream.result
    print(f"\nfinish reason: {result.finish_reason}\n")
    return result


def run_tools(result: sk.StreamResult) -> list[dict[str, Any]]:
    """The assistant turn and one ``tool`` message per call, to send back to the model."""
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": result.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in result.tool_calls
            ],
        }
    ]
    for call in result.tool_calls:
        args = call.parsed_arguments()  # a dict; raises json.JSONDecodeError when invalid
        print(f"{call.id}: {call.name}(**{args!r})  complete={call.complete}")
        if call.name == "get_weather":
            output: dict[str, Any] = get_weather(**args)
        else:
            output = {"error": f"unknown tool {call.name!r}"}
        print(f"  -> {output}")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(output)})
    return messages


def stream_answer(
    client: sk.StreamingClient, model: str, messages: list[dict[str, Any]]
) -> sk.StreamResult:
    """Stream the model's answer once it has the tool results."""
    print("\nanswer: ", end="")
    with client.stream(model=model, messages=messages, tools=TOOLS) as stream:
        for text in stream.text_stream:
            print(text, end="", flush=True)
    print()
    return stream.result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stream with tools.")
    parser.add_argument("--local", action="store_true", help="use a local server, no key")
    parser.add_argument("--base-url", default=None, help="default: $STREAMKIT_BASE_URL")
    parser.add_argument("--model", default="gpt-4.1")
    args = parser.parse_args(argv)

    tracker = sk.CostTracker()
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What's the weather in Paris and in Tokyo, in celsius?"}
    ]
    with ExitStack() as stack:
        base_url, api_key, server = args.base_url, None, None
        if args.local:
            from streamkit.testing import LocalServer

            server = stack.enter_context(LocalServer(tool_call_transcript(args.model)))
            base_url, api_key = server.base_url, "not-needed"
        client = stack.enter_context(
            sk.StreamingClient(base_url=base_url, api_key=api_key, tracker=tracker)
        )

        result = stream_tool_calls(client, args.model, messages)
        if not result.tool_calls:
            print("(the model answered without calling a tool)")
            return 0
        messages += run_tools(result)
        if server is not None:  # the local "model" now answers with the tool results
            server.set_transcript(answer_transcript(LOCAL_ANSWER, args.model))
        final = stream_answer(client, args.model, messages)

    print(f"finish reason: {final.finish_reason}")
    total = sk.pricing.format_money(tracker.total_cost)
    print(f"total cost: {total} for {tracker.stream_count} streams")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
