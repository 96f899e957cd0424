"""Measure the token estimator against the usage real providers reported.

    .venv/bin/python scripts/estimator_error.py [FIXTURES_DIR]

For every recorded stream (``../shared/fixtures/real`` or ``$STREAMKIT_REAL_FIXTURES``)
that reports its output tokens, the visible output (answer text, refusals, tool names
and arguments, of every choice) is estimated with streamkit's default estimator
(``streamkit.estimation.estimate_tokens``) and with the old rule of 4 characters per
token, and compared with the reported ``output_tokens`` minus the reasoning tokens
(reasoning is often hidden or summarized, so it is left out on both sides). Streams
whose reasoning is visible but not counted apart are skipped, as are streams without
usage.

Prints one line per stream and, per script (``ascii``, ``latin``: other Latin/Greek/
Cyrillic text, ``wide``: CJK and other wide scripts), the median and the worst ratio
estimate / reported (worst = furthest from 1, either way): over every stream, and over
text-only streams, streams with tool calls (providers bill tokens around each call that
no text shows), and text-only streams of at least ``LONG`` reported tokens, where the
few tokens around a short answer weigh less. Those figures are in
``docs/usage-and-cost.md``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from pathlib import Path

from streamkit.estimation import _WIDE, estimate_tokens
from streamkit.offline import decode_stream
from streamkit.result import StreamResult


def fixtures_dir(argv: list[str]) -> Path:
    """The recordings: the first argument, ``$STREAMKIT_REAL_FIXTURES``, or ../shared."""
    if len(argv) > 1:
        return Path(argv[1])
    default = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
    return Path(os.environ.get("STREAMKIT_REAL_FIXTURES", default))


def visible_output(result: StreamResult) -> str:
    """Answer text, refusals, tool names and arguments of every choice, joined."""
    parts: list[str] = []
    for choice in result.choices:
        parts.append(choice.text)
        if choice.refusal:
            parts.append(choice.refusal)
        for call in choice.tool_calls:
            parts.append(call.name or "")
            parts.append(call.arguments)
    return "".join(parts)


def script_of(text: str) -> str:
    """``wide`` (>30% wide characters), ``ascii`` (>98% ASCII) or ``latin`` (the rest)."""
    letters = [c for c in text if not c.isspace()]
    if not letters:
        return "ascii"
    wide = len(_WIDE.findall(text))
    if wide / len(letters) > 0.3:
        return "wide"
    ascii_chars = sum(c.isascii() for c in letters)
    return "ascii" if ascii_chars / len(letters) > 0.98 else "latin"


LONG = 30


def worst(ratios: list[float]) -> float:
    """The ratio furthest from 1, either way."""
    return max(ratios, key=lambda r: abs(math.log(r)))


def main(argv: list[str]) -> int:
    """Print the comparison; 2 when the recordings are missing."""
    root = fixtures_dir(argv)
    manifest = root / "MANIFEST.json"
    if not manifest.is_file():
        print(f"no recordings at {root}", file=sys.stderr)
        return 2
    rows: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    print(f"{'stream':<55} {'script':<6} {'reported':>8} {'estimate':>8} {'ratio':>6} {'old':>6}")
    for entry in json.loads(manifest.read_text(encoding="utf-8")):
        name, dialect = entry["file"], entry["dialect"]
        try:
            _, result = decode_stream((root / name).read_bytes(), provider=dialect)
        except Exception as exc:  # a recording of an error: nothing to compare
            print(f"{name:<55} skipped: {type(exc).__name__}")
            continue
        usage = result.usage
        if usage is None or not usage.output_tokens:
            continue
        reasoning = usage.reasoning_tokens or 0
        if any(c.reasoning for c in result.choices) and not reasoning:
            print(f"{name:<55} skipped: reasoning visible but not counted apart")
            continue
        reported = usage.output_tokens - reasoning
        text = visible_output(result)
        if reported <= 0 or not text:
            continue
        estimate = math.ceil(estimate_tokens(text))
        old = math.ceil(len(text) / 4)
        script = script_of(text)
        ratio, old_ratio = estimate / reported, old / reported
        kind = "tool calls" if any(c.tool_calls for c in result.choices) else "text"
        rows.setdefault((script, "all"), []).append((ratio, old_ratio, name))
        rows.setdefault((script, kind), []).append((ratio, old_ratio, name))
        if kind == "text" and reported >= LONG:
            rows.setdefault((script, f"text >= {LONG}"), []).append((ratio, old_ratio, name))
        print(f"{name:<55} {script:<6} {reported:>8} {estimate:>8} {ratio:>6.2f} {old_ratio:>6.2f}")
    print()
    head = f"{'script':<6} {'streams':<12} {'n':>3} {'median':>7} {'worst':>7}"
    print(f"{head} {'old median':>10} {'old worst':>9}   (ratio = estimate / reported)")
    for (script, which), pairs in sorted(rows.items()):
        new = [r for r, _, _ in pairs]
        old = [o for _, o, _ in pairs]
        worst_name = next(n for r, _, n in pairs if r == worst(new))
        print(
            f"{script:<6} {which:<12} {len(pairs):>3} {statistics.median(new):>7.2f} "
            f"{worst(new):>7.2f} {statistics.median(old):>10.2f} {worst(old):>9.2f}   "
            f"worst: {worst_name}"
        )
    if not any(script == "wide" for script, _ in rows):
        print("wide   (no recording in a wide script: see tests/test_cost.py's CJK transcript)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
