"""The ``streamkit`` command: demo, chat, inspect, prices.

``streamkit demo`` needs no key and no network: it serves a transcript from
:class:`streamkit.testing.LocalServer` on 127.0.0.1, breaks the connection
half-way, and shows the stream resumed live, then usage, cost and timing.
``streamkit demo --websocket`` does the same over a WebSocket (OpenAI's Responses
WebSocket mode, ``client.connect()``): the server drops the socket half-way (no
close frame, code 1006) and the stream resumes on a new one.

Any :class:`~streamkit.errors.StreamkitError` (a wrong key, a refused request, a
stream that could not be resumed, a bad option) ends the command with one line on
stderr, ``streamkit <command>: <ErrorType>: <message>``, and exit status 1; never
a traceback. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = ["main"]

#: Exit status when a command fails with a streamkit error or a missing extra.
EXIT_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class _MissingExtraError(Exception):
    """A command needs an optional dependency group that is not installed."""

    def __init__(self, extra: str, module: str | None) -> None:
        what = f" ({module} is not installed)" if module else ""
        super().__init__(f'needs the "{extra}" extra{what}: pip install "streamkit[{extra}]"')


class _Printer:
    """Writes the stream.

    In a terminal with rich installed: a live view with the reasoning dimmed above
    the answer, a status line (tokens so far, elapsed seconds) and resume notices.
    Otherwise (a pipe, a file, no rich): the answer as plain text as it arrives,
    notices on their own lines; the reasoning only with ``show_reasoning``, under a
    ``[reasoning]`` header, the answer then under ``[answer]``.
    """

    #: Seconds between live redraws.
    REDRAW_S = 1 / 15

    def __init__(self, out: TextIO, *, show_reasoning: bool = False) -> None:
        self.out = out
        self.live: Any = None
        self.show_reasoning = show_reasoning
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        self._channel: str | None = None  # what plain output printed last
        self._notes: list[str] = []
        self._tokens = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        if out.isatty():
            try:
                from rich.console import Console
                from rich.live import Live
            except ImportError:  # pragma: no cover - rich is in the cli extra
                return
            self.live = Live(console=Console(file=out, highlight=False), refresh_per_second=15)

    def __enter__(self) -> _Printer:
        self._started = time.monotonic()
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self._redraw(force=True)
            self.live.__exit__(None, None, None)
        else:
            self.out.write("\n")
            self.out.flush()

    def text(self, piece: str) -> None:
        self._tokens += 1  # about one token per delta, until usage is reported
        if self.live is not None:
            self._answer.append(piece)
            self._redraw()
        else:
            self._plain("answer", piece)

    def reasoning(self, piece: str) -> None:
        self._tokens += 1
        if self.live is not None:
            self._reasoning.append(piece)
            self._redraw()
        elif self.show_reasoning:
            self._plain("reasoning", piece)

    def _plain(self, channel: str, piece: str) -> None:
        if self.show_reasoning and channel != self._channel:
            # label each switch between reasoning and answer
            self.out.write(f"{'' if self._channel is None else chr(10)}[{channel}]\n")
        self._channel = channel
        self.out.write(piece)
        self.out.flush()

    def tokens(self, count: int) -> None:
        self._tokens = count

    def notice(self, message: str) -> None:
        if self.live is not None:
            self._notes.append(message)
            self._redraw(force=True)
        else:
            self.out.write(f"\n[{message}]\n")
            self.out.flush()

    def line(self, message: str = "") -> None:
        self.out.write(message + "\n")
        self.out.flush()

    def _redraw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < self.REDRAW_S:
            return
        self._drawn = now
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = []
        if self._reasoning:
            parts.append(Text("".join(self._reasoning), style="dim italic"))
        parts.append(Text("".join(self._answer)))
        parts.extend(Text(f"⟳ {note}", style="yellow") for note in self._notes)
        parts.append(Text(f"{self._tokens} tokens · {now - self._started:.1f} s", style="dim"))
        self.live.update(Group(*parts))


def _print_stream(stream: Any, printer: _Printer) -> None:
    from streamkit.events import ReasoningDelta, ResumeEvent, RetryEvent, TextDelta, UsageEvent

    with printer:
        for event in stream:
            if isinstance(event, TextDelta) and event.index == 0:
                printer.text(event.text)
            elif isinstance(event, ReasoningDelta) and event.index == 0:
                printer.reasoning(event.text)
            elif isinstance(event, UsageEvent) and event.usage.output_tokens:
                printer.tokens(event.usage.output_tokens)
            elif isinstance(event, RetryEvent):
                printer.notice(
                    f"attempt {event.attempt} failed ({event.reason.split(':')[0]}); "
                    f"retrying in {event.delay_s:.2f} s"
                )
            elif isinstance(event, ResumeEvent):
                printer.notice(
                    f"resumed with strategy {event.strategy!r} after "
                    f"{event.resumed_after_chars} characters (attempt {event.attempt})"
                )


def _summary(result: StreamResult) -> list[str]:
    from streamkit.pricing import format_money

    usage = result.usage
    m = result.metrics
    lines = ["", "─" * 60]
    if usage is not None:
        est = " (estimated)" if usage.estimated else ""
        lines.append(
            f"tokens     input {usage.input_tokens}  output {usage.output_tokens}  "
            f"total {usage.total_tokens}{est}"
        )
    if result.cost is not None:
        lines.append(f"cost       {format_money(result.cost)} USD")
    else:
        lines.append("cost       unknown (model not in the price table)")
    if m.time_to_first_token_s is not None:
        lines.append(f"first token {m.time_to_first_token_s * 1000:.0f} ms")
    if m.duration_s is not None:
        lines.append(f"duration   {m.duration_s:.2f} s")
    if m.output_tokens_per_s is not None:
        lines.append(f"speed      {m.output_tokens_per_s:.1f} tokens/s")
    lines.append(f"attempts   {result.attempts}   finish reason {result.finish_reason}")
    return lines


def _testing() -> Any:
    """``streamkit.testing``; :class:`_MissingExtraError` without the ``testing`` extra."""
    try:
        import streamkit.testing as testing
    except ImportError as err:
        raise _MissingExtraError("testing", err.name) from None
    return testing


def _websocket_library() -> None:
    """Check for ``httpx-ws``; :class:`_MissingExtraError` without the ``websocket`` extra."""
    try:  # by name: only the executors import WebSocket libraries (import-linter)
        importlib.import_module("httpx_ws")
    except ImportError as err:
        raise _MissingExtraError("websocket", err.name) from None


#: The question both demos ask (the answer is the demo transcript's).
_DEMO_QUESTION = "Why do LLM streams need a resumable client?"


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.client import StreamingClient
    from streamkit.retry import RetryPolicy
    from streamkit.tracker import CostTracker

    if args.websocket:
        return _demo_websocket(args, out)
    testing = _testing()
    transcript = testing.demo_transcript(model="gpt-4.1")
    faults = [] if args.no_fault else [testing.Fault.cut(after_bytes=len(transcript) // 2)]
    printer = _Printer(out)
    tracker = CostTracker()
    with testing.LocalServer(transcript, faults=faults, delay_s=args.delay, add_ids=True) as server:
        printer.line(f"streamkit demo — a recorded-style answer served from {server.base_url}")
        if faults:
            printer.line("(the server breaks the connection half-way; watch it resume)")
        printer.line()
        with StreamingClient(
            base_url=server.base_url,
            api_key="demo-key-not-secret",
            tracker=tracker,
            retry=RetryPolicy(initial_delay=0.2, jitter=0.1),
        ) as client:
            stream = client.stream(
                model="gpt-4.1",
                messages=[{"role": "user", "content": _DEMO_QUESTION}],
            )
            with stream:
                _print_stream(stream, printer)
            for line in _summary(stream.result):
                printer.line(line)
    return 0


def _demo_websocket(args: argparse.Namespace, out: TextIO) -> int:
    """``streamkit demo --websocket``: the demo over a WebSocket, dropped half-way."""
    from streamkit.client import StreamingClient
    from streamkit.retry import RetryPolicy
    from streamkit.tracker import CostTracker

    testing = _testing()
    _websocket_library()
    transcript = testing.demo_responses_transcript(model="gpt-4.1")
    events = sum(1 for line in transcript.splitlines() if line.startswith(b"data:"))
    # 1006: the socket is dropped without a close frame, as a network failure does
    faults = [] if args.no_fault else [testing.Fault.close(1006, after_events=events // 2)]
    printer = _Printer(out)
    tracker = CostTracker()
    server = testing.LocalServer(
        transcript, dialect="openai-responses", faults=faults, delay_s=args.delay
    )
    with (
        server,
        StreamingClient(
            base_url=server.base_url,
            api_key="demo-key-not-secret",
            provider="openai-responses",
            tracker=tracker,
            retry=RetryPolicy(initial_delay=0.2, jitter=0.1),
        ) as client,
        client.connect() as conn,
    ):
        printer.line(
            "streamkit demo --websocket — a recorded-style answer over a WebSocket "
            f"from {conn.url} (Responses WebSocket mode)"
        )
        if faults:
            printer.line(
                "(the server drops the socket half-way, close code 1006; "
                "watch it resume on a new one)"
            )
        printer.line()
        stream = conn.stream(model="gpt-4.1", input=_DEMO_QUESTION)
        with stream:
            _print_stream(stream, printer)
        for line in _summary(stream.result):
            printer.line(line)
        printer.line(f"sockets    {conn.sockets_opened} opened")
    return 0


#: The request field ``--max-tokens`` sets, per dialect (others: ``max_tokens``, which
#: the Gemini dialect maps to ``generationConfig.maxOutputTokens``).
_MAX_TOKENS_FIELD = {"openai-responses": "max_output_tokens"}


def _cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.client import StreamingClient
    from streamkit.tracker import CostTracker

    messages: list[dict[str, str]] = []
    if args.system is not None:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params[_MAX_TOKENS_FIELD.get(args.provider, "max_tokens")] = args.max_tokens
    printer = _Printer(out, show_reasoning=args.show_reasoning)
    with StreamingClient(
        base_url=args.base_url, api_key=args.api_key, provider=args.provider, tracker=CostTracker()
    ) as client:
        stream = client.stream(model=args.model, messages=messages, **params)
        with stream:
            _print_stream(stream, printer)
        for line in _summary(stream.result):
            printer.line(line)
    return 0


def _cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.errors import StreamkitError
    from streamkit.offline import decode_stream
    from streamkit.providers import detect

    try:
        data = Path(args.file).read_bytes()
    except OSError as err:
        sys.stderr.write(f"streamkit inspect: cannot read {args.file}: {err.strerror or err}\n")
        return EXIT_ERROR
    provider = args.provider or detect(data)
    out.write(f"# {args.file}: dialect {provider}\n")
    try:
        events, result = decode_stream(data, provider=provider)
    except StreamkitError as err:
        out.write(f"error: {type(err).__name__}: {err}\n")
        if err.partial is not None:
            out.write("partial result:\n")
            out.write(err.partial.model_dump_json(indent=2, exclude={"metrics"}) + "\n")
        return 1
    for event in events:
        out.write(event.model_dump_json() + "\n")
    out.write("result:\n")
    out.write(result.model_dump_json(indent=2, exclude={"metrics"}) + "\n")
    return 0


def _cmd_prices(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit._prices_cli import prices_command

    try:
        text = prices_command(
            args.input_tokens, args.output_tokens, args.model, provider=args.provider
        )
        out.write(text + "\n")
    except (ValueError, LookupError) as err:
        sys.stderr.write(f"streamkit prices: {err}\n")
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    from streamkit._version import __version__

    parser = argparse.ArgumentParser(
        prog="streamkit", description="Typed, resumable, cost-aware LLM streaming."
    )
    parser.add_argument("--version", action="version", version=f"streamkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="stream a demo answer from a local server (no key needed)")
    demo.add_argument("--no-fault", action="store_true", help="do not break the connection")
    demo.add_argument(
        "--delay", type=float, default=0.015, help="seconds between events (default 0.015)"
    )
    demo.add_argument(
        "--websocket",
        action="store_true",
        help="stream over a WebSocket (Responses WebSocket mode; needs streamkit[websocket])",
    )
    chat = sub.add_parser("chat", help="stream an answer from a real provider")
    chat.add_argument("prompt")
    chat.add_argument("--model", required=True)
    chat.add_argument(
        "--base-url", default=None, help="default: $STREAMKIT_BASE_URL, then the provider's own"
    )
    chat.add_argument("--provider", default="openai-chat")
    chat.add_argument(
        "--api-key",
        default=None,
        help="default: $STREAMKIT_API_KEY, then the provider's variable ($OPENAI_API_KEY, ...)",
    )
    chat.add_argument("--system", default=None, help="a system prompt")
    chat.add_argument(
        "--max-tokens", type=_positive_int, default=None, help="the longest answer, in tokens"
    )
    chat.add_argument(
        "--show-reasoning",
        action="store_true",
        help="print the model's reasoning before the answer when the output is not a "
        "terminal (a terminal always shows it, dimmed)",
    )
    inspect = sub.add_parser("inspect", help="decode a recorded .sse stream into typed events")
    inspect.add_argument("file")
    inspect.add_argument("--provider", default=None, help="dialect (default: detected)")
    prices = sub.add_parser("prices", help="the price table and what a volume costs")
    prices.add_argument("--input-tokens", default=None, help="e.g. 10M, 500k")
    prices.add_argument("--output-tokens", default=None, help="e.g. 10M, 500k")
    prices.add_argument("--model", default=None, help="one model (any alias or snapshot)")
    prices.add_argument("--provider", default=None, help="one provider: openai, x-ai, ...")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _one_line(err: BaseException) -> str:
    """``ErrorType: message`` on one line (whitespace, newlines included, collapsed)."""
    return " ".join(f"{type(err).__name__}: {err}".split())


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        out: where the command writes its output (default: ``sys.stdout``); errors
            go to ``sys.stderr``.

    Returns:
        0 on success; :data:`EXIT_ERROR` (1) when the command failed with a
        :class:`~streamkit.errors.StreamkitError` or needs a missing extra (one line
        on stderr, no traceback), or when the reader of its output went away (a closed
        pipe: nothing is printed); 2 for bad arguments (argparse); 130 after Ctrl-C.
        ``--version`` and ``--help`` print and exit (``SystemExit(0)``), as argparse does.
    """
    from streamkit.errors import StreamkitError

    args = _parser().parse_args(argv)
    stream = out or sys.stdout
    commands = {
        "demo": _cmd_demo,
        "chat": _cmd_chat,
        "inspect": _cmd_inspect,
        "prices": _cmd_prices,
    }
    try:
        return commands[args.command](args, stream)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader left (`streamkit demo | head`): stop quietly; what is still buffered
        # goes nowhere, so that the flush at exit raises nothing either (Python's docs,
        # "Note on SIGPIPE")
        if out is None:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except (StreamkitError, _MissingExtraError) as err:
        stream.flush()
        label = _one_line(err) if isinstance(err, StreamkitError) else str(err)
        sys.stderr.write(f"streamkit {args.command}: {label}\n")
        sys.stderr.flush()
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
