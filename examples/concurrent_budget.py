"""Concurrent streams sharing one budget that they never overspend together.

    python examples/concurrent_budget.py --local               # no key: a local server
    python examples/concurrent_budget.py --local --streams 6 --budget 0.008 --backend trio
    python examples/concurrent_budget.py --local --running     # the old mode: overshoots
    python examples/concurrent_budget.py --model gpt-4.1-mini --budget 0.01   # real, $

N async streams run at once on one ``AsyncStreamingClient`` (on asyncio, or trio with
``--backend trio``) and share one ``CostTracker(budget_usd=..., reserve=True)``. Before a
request starts, the tracker reserves its worst case: ``--max-tokens`` output tokens at the
model's output price plus the estimated prompt. A stream whose reservation does not fit in
what is left of the budget is refused before any request is sent
(``BudgetExceededError``); when a stream ends, its reservation is replaced by what it
really cost. So however many run at once, they never spend more than the budget together.

With ``--running`` the tracker checks usage as it arrives instead (plus an estimate of the
text whose usage has not arrived yet): more streams start, and the stream that crosses the
budget is stopped mid-answer, but the streams already under way have spent too, so the
total ends a little over the budget.

The streams overlap like requests arriving one after another: each starts once the one
before it has received ``--head-start`` pieces of text (about half of the local demo
answer). With ``--local`` every stream is the demo answer from
``streamkit.testing.LocalServer`` (about $0.002 each for gpt-4.1, 242 output tokens; the
default reservation is $0.0024), sent one event every ``--delay`` seconds: two fit in the
default budget of $0.006, the others are refused.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from decimal import Decimal

import anyio

import streamkit as sk

QUESTIONS = [
    "Why do LLM APIs stream their answers?",
    "What goes wrong when a stream breaks half-way?",
    "How can a client resume a broken stream?",
    "Why count tokens on every attempt?",
    "What is Last-Event-ID for?",
    "When is a replay not the same answer?",
    "What does a stall look like?",
    "How do budgets stop a stream?",
]


async def ask(
    client: sk.AsyncStreamingClient,
    number: int,
    model: str,
    max_tokens: int,
    head_start: int,
    my_turn: anyio.Event,
    next_turn: anyio.Event,
    outcomes: dict[int, str],
) -> None:
    """One stream: wait for its turn, let the next one start, print how it ended."""
    await my_turn.wait()
    messages = [{"role": "user", "content": QUESTIONS[(number - 1) % len(QUESTIONS)]}]
    try:
        async with client.stream(model=model, messages=messages, max_tokens=max_tokens) as stream:
            pieces = 0
            async for _ in stream.text_stream:
                pieces += 1
                if pieces == head_start:
                    next_turn.set()
    except sk.BudgetExceededError as err:
        received = len(err.partial.text) if err.partial is not None else 0
        where = f"after {received} characters" if err.partial is not None else "before starting"
        verb = "would be crossed" if err.partial is None else "crossed"
        outcomes[number] = (
            f"STOPPED {where}: budget {sk.pricing.format_money(err.budget_usd)} {verb} "
            f"({sk.pricing.format_money(err.spent_usd)} spent or reserved)"
        )
    else:
        result = stream.result
        cost = "unknown" if result.cost is None else sk.pricing.format_money(result.cost)
        outcomes[number] = f"complete: {len(result.text)} characters, {cost}"
    finally:
        next_turn.set()  # ended early (or short): the next stream need not wait
    print(f"stream {number}: {outcomes[number]}")


async def run(
    client: sk.AsyncStreamingClient, streams: int, model: str, max_tokens: int, head_start: int
) -> dict[int, str]:
    """Run the streams concurrently, each starting after a head start of the one before."""
    outcomes: dict[int, str] = {}
    turns = [anyio.Event() for _ in range(streams + 1)]
    turns[0].set()
    async with anyio.create_task_group() as tg:
        for n in range(streams):
            turn = (turns[n], turns[n + 1])
            tg.start_soon(ask, client, n + 1, model, max_tokens, head_start, *turn, outcomes)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent streams sharing one budget.")
    parser.add_argument("--local", action="store_true", help="use a local server, no key")
    parser.add_argument("--base-url", default=None, help="default: $STREAMKIT_BASE_URL")
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--budget", type=Decimal, default=Decimal("0.006"), help="USD")
    parser.add_argument("--max-tokens", type=int, default=300, help="output limit per stream")
    parser.add_argument(
        "--running", action="store_true", help="check usage as it arrives (no reservations)"
    )
    parser.add_argument("--delay", type=float, default=0.002, help="--local: s between events")
    parser.add_argument(
        "--head-start", type=int, default=120, help="text pieces before the next stream starts"
    )
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args(argv)

    tracker = sk.CostTracker(budget_usd=args.budget, reserve=not args.running)
    with ExitStack() as stack:
        base_url, api_key = args.base_url, None
        if args.local:
            from streamkit.testing import LocalServer, demo_transcript

            server = LocalServer(demo_transcript(model=args.model), delay_s=args.delay)
            stack.enter_context(server)
            base_url, api_key = server.base_url, "not-needed"

        async def go() -> dict[int, str]:
            async with sk.AsyncStreamingClient(
                base_url=base_url, api_key=api_key, tracker=tracker
            ) as client:
                return await run(client, args.streams, args.model, args.max_tokens, args.head_start)

        mode = "running checks" if args.running else f"reservations of max_tokens={args.max_tokens}"
        print(f"{args.streams} streams of {args.model}, budget ${args.budget}, {mode}\n")
        outcomes = anyio.run(go, backend=args.backend)

    stopped = sum(outcome.startswith("STOPPED") for outcome in outcomes.values())
    print(f"\n{len(outcomes) - stopped} complete, {stopped} stopped by the budget\n")
    print(tracker.report())
    within = "within" if tracker.total_cost <= args.budget else "OVER"
    print(f"\n{within} the budget: {sk.pricing.format_money(tracker.total_cost)} spent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
