"""A terminal chat: the answer streams in with a live token counter and elapsed time.

    python examples/terminal_chat.py --local                  # no key: a local demo server
    python examples/terminal_chat.py --model gpt-4.1          # $OPENAI_API_KEY
    python examples/terminal_chat.py --model deepseek-chat --base-url https://api.deepseek.com
    python examples/terminal_chat.py --local --prompt "Hi"    # one question, then exit

Type a message and press Enter; an empty line, ``exit`` or Ctrl-D ends the chat. In a
terminal the answer is drawn with rich (``pip install "streamkit[cli]"``): the text as
it arrives, and under it the tokens so far and the elapsed time. When the output is not
a terminal (a pipe, a file, a test), the text is printed as plain text. After each
answer: tokens, cost and time to first token; at the end, the cost of the session.

With ``--local`` the answers come from ``streamkit.testing.LocalServer`` on 127.0.0.1,
which breaks the connection of the first answer half-way so that you see streamkit
resume it (``--no-fault`` to turn that off).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from typing import Any, TextIO

import streamkit as sk


class PlainView:
    """Text as it arrives, notices on their own lines; for pipes, files and tests."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.write("\n")
        self.out.flush()

    def text(self, piece: str) -> None:
        self.out.write(piece)
        self.out.flush()

    def status(self, tokens: int, elapsed_s: float) -> None:
        pass  # only the rich view has a status line

    def notice(self, message: str) -> None:
        self.out.write(f"\n[{message}]\n")
        self.out.flush()


class RichView:
    """A rich Live display: the answer so far, and a status line under it."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out)
        self.live = Live(console=self.console, refresh_per_second=15, transient=False)
        self.answer: list[str] = []
        self.notices: list[str] = []

    def __enter__(self) -> RichView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def _render(self, status: str) -> Any:
        from rich.console import Group
        from rich.markdown import Markdown
        from rich.text import Text

        parts: list[Any] = [Markdown("".join(self.answer) or "…")]
        parts.extend(Text(f"⟳ {note}", style="yellow") for note in self.notices)
        parts.append(Text(status, style="dim"))
        return Group(*parts)

    def text(self, piece: str) -> None:
        self.answer.append(piece)

    def status(self, tokens: int, elapsed_s: float) -> None:
        self.live.update(self._render(f"{tokens} tokens · {elapsed_s:.1f} s"))

    def notice(self, message: str) -> None:
        self.notices.append(message)


def answer(
    client: sk.StreamingClient,
    model: str,
    history: list[dict[str, str]],
    out: TextIO,
    *,
    rich: bool,
) -> sk.StreamResult:
    """Stream one answer into the view; return its result."""
    started = time.monotonic()
    view: PlainView | RichView = RichView(out) if rich else PlainView(out)
    tokens = 0  # content deltas: about one token each, until the provider reports usage
    with view, client.stream(model=model, messages=history) as stream:
        for event in stream:
            if isinstance(event, sk.TextDelta) and event.index == 0:
                tokens += 1
                view.text(event.text)
            elif isinstance(event, sk.UsageEvent) and event.usage.output_tokens:
                tokens = event.usage.output_tokens
            elif isinstance(event, sk.RetryEvent):
                view.notice(f"connection lost; retrying in {event.delay_s:.1f} s")
            elif isinstance(event, sk.ResumeEvent):
                view.notice(f"resumed ({event.strategy}): nothing lost, nothing repeated")
            view.status(tokens, time.monotonic() - started)
    return stream.result


def footer(result: sk.StreamResult) -> str:
    """Tokens, cost and timing of one answer."""
    parts = []
    if result.usage is not None:
        parts.append(f"{result.usage.input_tokens} in / {result.usage.output_tokens} out tokens")
    parts.append(f"${result.cost:.6f}" if result.cost is not None else "cost unknown")
    if result.metrics.time_to_first_token_s is not None:
        parts.append(f"first token {result.metrics.time_to_first_token_s * 1000:.0f} ms")
    if result.metrics.duration_s is not None:
        parts.append(f"{result.metrics.duration_s:.2f} s")
    if result.attempts > 1:
        parts.append(f"{result.attempts} attempts")
    return " · ".join(parts)


def prompts(args: argparse.Namespace, out: TextIO) -> Any:
    """The user's messages: ``--prompt``, or lines typed until EOF, ``exit`` or an empty line."""
    if args.prompt is not None:
        yield args.prompt
        return
    while True:
        try:
            line = input("you> ") if sys.stdin.isatty() else sys.stdin.readline()
        except EOFError:
            return
        line = line.strip()
        if not line or line in ("exit", "quit"):
            return
        if not sys.stdin.isatty():
            out.write(f"you> {line}\n")
        yield line


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(description="A terminal chat over a streaming LLM API.")
    parser.add_argument("--local", action="store_true", help="use a local demo server, no key")
    parser.add_argument("--base-url", default=None, help="default: $STREAMKIT_BASE_URL")
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument("--provider", default="openai-chat", help="see streamkit.providers")
    parser.add_argument("--system", default="You are a helpful assistant.")
    parser.add_argument("--prompt", default=None, help="ask this once and exit")
    parser.add_argument("--no-fault", action="store_true", help="--local: never break")
    parser.add_argument("--delay", type=float, default=0.01, help="--local: s between events")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    rich = out.isatty()
    if rich:
        try:
            import rich as _rich  # noqa: F401
        except ImportError:
            rich = False

    tracker = sk.CostTracker()
    history = [{"role": "system", "content": args.system}]
    with ExitStack() as stack:
        base_url, api_key, provider = args.base_url, None, args.provider
        if args.local:
            from streamkit.testing import Fault, LocalServer, demo_transcript

            transcript = demo_transcript(model=args.model)
            faults = [] if args.no_fault else [Fault.cut(after_bytes=len(transcript) // 2)]
            server = LocalServer(transcript, faults=faults, add_ids=True, delay_s=args.delay)
            stack.enter_context(server)
            base_url, api_key, provider = server.base_url, "not-needed", "openai-chat"
            out.write(f"(local demo server at {server.base_url}: no key, no network)\n")
        client = stack.enter_context(
            sk.StreamingClient(
                base_url=base_url,
                api_key=api_key,
                provider=provider,
                tracker=tracker,
                retry=sk.RetryPolicy(initial_delay=0.3, jitter=0.2),
            )
        )
        for prompt in prompts(args, out):
            history.append({"role": "user", "content": prompt})
            try:
                result = answer(client, args.model, history, out, rich=rich)
            except sk.StreamkitError as err:
                out.write(f"\nerror: {type(err).__name__}: {err}\n")
                history.pop()
                continue
            except KeyboardInterrupt:
                out.write("\n(interrupted)\n")
                history.pop()
                continue
            history.append({"role": "assistant", "content": result.text})
            out.write(f"── {footer(result)}\n")
    out.write(f"session: {tracker.stream_count} answer(s), ${tracker.total_cost:.6f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
