"""The ``streamkit`` command: demo, chat, inspect, prices.

``streamkit demo`` needs no key and no network: it serves a transcript from
:class:`streamkit.testing.LocalServer` on 127.0.0.1, breaks the connection
half-way, and shows the stream resumed live, then usage, cost and timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = ["main"]


class _Printer:
    """Writes the stream.

    In a terminal with rich installed: a live view of the answer with a status line
    (tokens so far, elapsed seconds) and resume notices. Otherwise (a pipe, a file,
    no rich): plain text as it arrives, notices on their own lines.
    """

    #: Seconds between live redraws.
    REDRAW_S = 1 / 15

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live: Any = None
        self._answer: list[str] = []
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

        parts: list[Any] = [Text("".join(self._answer))]
        parts.extend(Text(f"⟳ {note}", style="yellow") for note in self._notes)
        parts.append(Text(f"{self._tokens} tokens · {now - self._started:.1f} s", style="dim"))
        self.live.update(Group(*parts))


def _print_stream(stream: Any, printer: _Printer) -> None:
    from streamkit.events import ReasoningDelta, ResumeEvent, RetryEvent, TextDelta, UsageEvent

    with printer:
        for event in stream:
            if isinstance(event, TextDelta | ReasoningDelta) and event.index == 0:
                printer.text(event.text)
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
        lines.append(f"cost       ${result.cost:.6f} USD")
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


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.client import StreamingClient
    from streamkit.retry import RetryPolicy
    from streamkit.testing import Fault, LocalServer, demo_transcript
    from streamkit.tracker import CostTracker

    transcript = demo_transcript(model="gpt-4.1")
    faults = [] if args.no_fault else [Fault.cut(after_bytes=len(transcript) // 2)]
    printer = _Printer(out)
    tracker = CostTracker()
    with LocalServer(transcript, faults=faults, delay_s=args.delay, add_ids=True) as server:
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
                messages=[
                    {"role": "user", "content": "Why do LLM streams need a resumable client?"}
                ],
            )
            with stream:
                _print_stream(stream, printer)
            for line in _summary(stream.result):
                printer.line(line)
    return 0


def _cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.client import StreamingClient
    from streamkit.tracker import CostTracker

    printer = _Printer(out)
    with StreamingClient(
        base_url=args.base_url, provider=args.provider, tracker=CostTracker()
    ) as client:
        stream = client.stream(
            model=args.model, messages=[{"role": "user", "content": args.prompt}]
        )
        with stream:
            _print_stream(stream, printer)
        for line in _summary(stream.result):
            printer.line(line)
    return 0


def _cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    from streamkit.errors import StreamkitError
    from streamkit.offline import decode_stream
    from streamkit.providers import detect

    data = Path(args.file).read_bytes()
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
        out.write(prices_command(args.input_tokens, args.output_tokens, args.model) + "\n")
    except (ValueError, LookupError) as err:
        sys.stderr.write(f"streamkit prices: {err}\n")
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamkit", description="Typed, resumable, cost-aware LLM streaming."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="stream a demo answer from a local server (no key needed)")
    demo.add_argument("--no-fault", action="store_true", help="do not break the connection")
    demo.add_argument(
        "--delay", type=float, default=0.015, help="seconds between events (default 0.015)"
    )
    chat = sub.add_parser("chat", help="stream an answer from a real provider")
    chat.add_argument("prompt")
    chat.add_argument("--model", required=True)
    chat.add_argument("--base-url", default=None)
    chat.add_argument("--provider", default="openai-chat")
    inspect = sub.add_parser("inspect", help="decode a recorded .sse stream into typed events")
    inspect.add_argument("file")
    inspect.add_argument("--provider", default=None, help="dialect (default: detected)")
    prices = sub.add_parser("prices", help="the price table and what a volume costs")
    prices.add_argument("--input-tokens", default=None, help="e.g. 10M, 500k")
    prices.add_argument("--output-tokens", default=None, help="e.g. 10M, 500k")
    prices.add_argument("--model", default=None)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status."""
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
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
