# ruff: noqa: E501, RUF001 - a report writer: long Markdown lines, multiplication signs
"""The Markdown report (benchmarks/RESULTS.md): one section per kind of measurement."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from competitors import SDK_COLUMN, STAGES, CaseResult, Column, StageResult, piece_label
from loopback import BURST_LABELS, REALISTIC, BurstResult, RealisticResult


def fmt_us(x: float) -> str:
    return f"{x:.3g}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_rate(eps: float) -> str:
    if eps >= 1e6:
        return f"{eps / 1e6:.2f}M"
    if eps >= 1e3:
        return f"{eps / 1e3:.1f}k"
    return f"{eps:.0f}"


def fmt_x(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def fmt_mib(b: float) -> str:
    return f"{b / 2**20:.2f} MiB" if b >= 2**20 else f"{b / 1024:.0f} KiB"


def fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def machine_info() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores (`/proc/cpuinfo`); load average at start {load} (1/5/15 min)",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
    ]


def checkout(root: Path) -> str:
    """The commit measured, and whether the work tree had uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/RESULTS.md",  # the report being rewritten
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {sha}" + (" with uncommitted changes" if dirty else " (clean)")


def versions(streamkit_version: str) -> str:
    names = [
        "httpx",
        "httpx2",
        "h11",
        "pydantic",
        "pydantic-core",
        "openai",
        "anthropic",
        "httpx-sse",
        "aiohttp",
        "orjson",
        "anyio",
    ]
    parts = [f"streamkit {streamkit_version} (this checkout)"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(
        self, header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None
    ) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        align = align or ("l" + "r" * (len(header) - 1))
        self.lines.append("|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(row) + " |")
        self.lines.append("")


# ---- in memory -----------------------------------------------------------------------------------


def _samples_note(res: CaseResult) -> str:
    counts = sorted({len(v) for v in res.samples.times.values()})
    return "samples per column: " + "/".join(str(c) for c in counts)


def case_table(rep: Report, res: CaseResult, cols: Sequence[Column]) -> None:
    t = res.case.transcript
    sdk = SDK_COLUMN.get(t.provider)
    if sdk not in res.samples:
        sdk = None
    rep.add(
        f"#### {t.name} @ {res.case.piece_label} pieces",
        "",
        f"{t.events:,} events, {len(t.body) / 2**20:.2f} MiB, {len(res.case.pieces):,} pieces; "
        f"{res.samples.rounds} interleaved rounds ({_samples_note(res)}).",
        "",
    )
    header = ["column", "µs/event median (min-max)", "events/s", "× json floor: median", "min"]
    if sdk:
        header.append(f"speed-up vs {sdk} SDK")
    rows = []
    n = t.events
    for col in cols:
        if col.key not in res.samples:
            continue
        us = res.us_per_event(col.key)
        lo, hi = res.samples.min(col.key), res.samples.max(col.key)
        med_x, min_x = res.samples.ratio(col.key, "json")
        row = [
            col.label,
            f"{fmt_us(us)} ({fmt_us(lo / n * 1e6)}-{fmt_us(hi / n * 1e6)})",
            fmt_rate(1e6 / us),
            fmt_x(med_x),
            fmt_x(min_x),
        ]
        if sdk:
            row.append(fmt_x(res.samples.median(sdk) / res.samples.median(col.key)))
        rows.append(row)
    rep.table(header, rows)


def inmemory_section(rep: Report, results: Sequence[CaseResult], cols: Sequence[Column]) -> None:
    rep.add("## In memory: µs per event", "")
    rep.add(
        "Every column decodes the same pre-cut pieces of one generated transcript (the floors and "
        "`decode_stream` straight from the pieces, the clients through a mock transport). Lower "
        "µs/event is better. `× json floor` = this column's time / the `split + json.loads` "
        "floor's time on the same pieces, as the ratio of the medians and of the minimums over "
        "the rounds; `speed-up vs SDK` = the provider SDK's median time / this column's (higher "
        "is better).",
        "",
    )
    for res in results:
        case_table(rep, res, cols)


def stages_section(rep: Report, stages: Sequence[StageResult]) -> None:
    rep.add("## streamkit stage by stage, against the floors", "")
    rep.add(
        "Cumulative prefixes of the pipeline (SSE decoder; + dialect; + reassembler; "
        "`decode_stream`, which adds the session, metrics and usage; `StreamingClient` over "
        "`MockTransport`, which adds httpx and the shell), each a full pass, interleaved with the "
        "floors, medians. A stage's cost is the difference between its prefix and the one "
        "before. Each stage is compared with the floor that does the same job: the SSE decoder "
        "with `bytes.split` (the split floor), the dialect with `json.loads` (the json floor "
        "minus the split floor) and with a lean pydantic model's `validate_json`; the later "
        "stages have no floor and are given in `json.loads` units. A regression shows in its "
        "own row. Caveat: `decode_stream` also keeps every event in a list (the client does "
        "not), so the last row can come out slightly negative; differences under ~0.5 µs are "
        "within the noise of a shared machine.",
        "",
    )
    for st in stages:
        t = st.transcript
        split = st.us("floor split")
        loads = st.us("floor json.loads") - split
        validate = st.us("floor validate_json") - split
        rep.add(f"#### {t.name} @ {piece_label(st.piece)} pieces", "")
        rows = [
            ["floor: split events (`bytes.split`)", fmt_us(split), "", ""],
            ["floor: `json.loads` per payload", fmt_us(loads), "", ""],
            ["floor: lean `validate_json` per payload", fmt_us(validate), "", ""],
        ]
        prev = 0.0
        for key, label in STAGES:
            if key not in st.samples:
                continue
            if key == "client" and "session" not in st.samples:
                label = "session, metrics, usage, httpx and the client shell"
            cost = st.us(key) - prev
            prev = st.us(key)
            if key == "sse":
                vs = f"{fmt_x(cost / split)} bytes.split"
            elif key == "decode":
                vs = f"{fmt_x(cost / loads)} json.loads, {fmt_x(cost / validate)} validate_json"
            else:
                vs = f"{fmt_x(cost / loads)} json.loads"
            rows.append([f"streamkit: {label}", fmt_us(cost), vs, fmt_us(prev)])
        rows.append(
            [
                "**whole StreamingClient vs the json floor**",
                "",
                fmt_x(st.us("client") / st.us("floor json.loads")),
                "",
            ]
        )
        rep.table(["stage", "µs/event", "ratio to its floor", "cumulative µs/event"], rows)


def overhead_section(rep: Report, overhead: dict[str, float], labels: dict[str, str]) -> None:
    rep.add("## Fixed cost per stream", "")
    rep.add(
        "One complete stream of `openai-text-1` (role, one content chunk, finish, usage, "
        "`[DONE]`) over MockTransport: request building, response set-up and teardown, "
        "result. Median of many interleaved samples. Matters for many short streams.",
        "",
    )
    sk_us = overhead.get("sk-client")
    rep.table(
        ["column", "µs per stream", "× streamkit StreamingClient"],
        ([labels[k], fmt_us(us), fmt_x(us / sk_us) if sk_us else ""] for k, us in overhead.items()),
    )


@dataclass
class Memory:
    rows: dict[str, dict[int, int]] = field(default_factory=dict)
    """column key -> chunks -> peak bytes."""
    text: dict[int, int] = field(default_factory=dict)
    """chunks -> size of the reassembled text (``sys.getsizeof``)."""

    def growth(self, key: str) -> tuple[float, int, int] | None:
        """Bytes per extra chunk between the two largest sizes measured for ``key``."""
        by_n = self.rows.get(key, {})
        have = sorted(n for n in self.text if n in by_n)
        if len(have) < 2:
            return None
        a, b = have[-2], have[-1]
        return (by_n[b] - by_n[a]) / (b - a), a, b

    def text_per_chunk(self, a: int, b: int) -> float:
        return (self.text[b] - self.text[a]) / (b - a)


def memory_section(rep: Report, mem: Memory, labels: dict[str, str]) -> None:
    sizes = sorted(mem.text)
    rep.add("## Memory (openai-text, 16 KiB pieces)", "")
    rep.add(
        "`tracemalloc` peak over one complete run (the input is allocated before tracing "
        "starts; the returned text counts). `growth` = (peak at the largest size - peak at the "
        "next size) / extra chunks; `beyond the text` subtracts the final text's own growth "
        f"(`str` of the reassembled text: {', '.join(f'{mem.text[n] / n:.0f} B/chunk @ {n // 1000}k' for n in sizes)}). "
        "`decode_stream` returns every event, so it grows by design.",
        "",
    )
    rows = []
    for key, by_n in mem.rows.items():
        row = [labels[key]] + [fmt_mib(by_n[n]) if n in by_n else "—" for n in sizes]
        g = mem.growth(key)
        if g is not None:
            per, a, b = g
            row += [
                f"{per:.0f} B/chunk ({a // 1000}k→{b // 1000}k)",
                f"{per - mem.text_per_chunk(a, b):.0f} B/chunk",
            ]
        else:
            row += ["", ""]
        rows.append(row)
    rep.table(
        ["column", *(f"peak @ {n // 1000}k" for n in sizes), "growth", "beyond the text"], rows
    )


# ---- loopback ------------------------------------------------------------------------------------


def realistic_section(rep: Report, results: Sequence[RealisticResult]) -> None:
    rep.add("## Loopback, realistic framing: one event per TCP write, paced", "")
    rep.add(
        "`benchmarks/servers.py` runs in its own process on 127.0.0.1 and writes each SSE event "
        "as one HTTP chunk in one `write` (`TCP_NODELAY`), on a fixed schedule per stream, the "
        "way an LLM API streams tokens. Each competitor runs in a fresh client process of its "
        "own, one per round (order alternating between rounds); after a warm-up stream it "
        "reports its process CPU time (`time.process_time`) over the scenario divided by the SSE "
        "events on the wire (content events plus 4 for OpenAI, 6 for Anthropic), and the delay "
        "from the server's write to the event reaching the user's `async for` (the server puts "
        "its `time.monotonic_ns()` in each content event; same machine, same CLOCK_MONOTONIC), "
        "p50 and p99 over every content event. All clients on asyncio. Medians over the rounds; "
        "`× raw asyncio` = CPU per event / the raw-asyncio row's.",
        "",
    )
    for res in results:
        rep.add(f"#### {res.scenario.title}", "", f"{res.rounds} round(s).", "")
        limit = res.median(res.cpu_us, "asyncio-raw") if "asyncio-raw" in res.cpu_us else None
        rows = []
        for key, cpu in res.cpu_us.items():
            med = res.median(res.cpu_us, key)
            rows.append(
                [
                    REALISTIC[key][0],
                    f"{fmt_us(med)} ({fmt_us(min(cpu))}-{fmt_us(max(cpu))})",
                    fmt_x(med / limit) if limit else "",
                    fmt_ms(res.median(res.p50_ms, key)),
                    fmt_ms(res.median(res.p99_ms, key)),
                ]
            )
        header = ["client", "CPU µs/event (min-max)", "× raw asyncio", "p50 delay", "p99 delay"]
        rep.table(header, rows)


def burst_section(rep: Report, results: Sequence[BurstResult]) -> None:
    rep.add("## Loopback, burst: the server writes events back to back", "")
    rep.add(
        "The same server, unpaced: it writes the events as fast as the socket takes them, so a "
        "client's read usually returns many events at once. This is the parse path under a "
        "saturated socket, **not** what an LLM API's framing looks like (see the realistic "
        "rows above). events/s counts SSE events on the wire; the delay is mostly queueing "
        "behind a client that cannot keep up.",
        "",
    )
    for res in results:
        ref = (
            "openai"
            if "openai" in res.runs
            else "openai-async"
            if "openai-async" in res.runs
            else None
        )
        rep.add(f"#### {res.title}", "", f"median of {res.rounds} interleaved round(s).", "")
        header = ["client", "events/s", "p50 delay", "p95 delay"]
        if ref:
            header.append("× openai events/s")
        rows = []
        for key in res.runs:
            p50, p95 = res.delay_ms(key, 0.5), res.delay_ms(key, 0.95)
            row = [
                BURST_LABELS[key],
                fmt_rate(res.eps(key)),
                fmt_ms(p50) if p50 is not None else "—",
                fmt_ms(p95) if p95 is not None else "—",
            ]
            if ref:
                row.append(fmt_x(res.eps(key) / res.eps(ref)))
            rows.append(row)
        rep.table(header, rows)


# ---- import time ---------------------------------------------------------------------------------


def import_section(
    rep: Report, imports: dict[str, float], tree: list[tuple[str, float, float]], repeats: int
) -> None:
    rep.add("## Import time", "")
    rep.add(
        f'Median of {repeats} fresh `python -c "import X"` processes minus the median of '
        f"`python -c pass` ({imports['(python -c pass)'] * 1000:.0f} ms), interleaved; .pyc "
        "caches warm.",
        "",
    )
    sk_t = imports.get("streamkit")
    rows = [
        [f"`import {mod}`", f"{s * 1000:.0f} ms", fmt_x(s / sk_t) if sk_t else ""]
        for mod, s in imports.items()
        if not mod.startswith("(")
    ]
    rep.table(["module", "import time", "× streamkit"], rows)
    if tree:
        rep.add(
            "Largest pieces of `import streamkit` (one `python -X importtime` run; cumulative "
            "µs includes nested imports; modules already imported by an earlier line are not "
            "counted again):",
            "",
        )
        rep.table(
            ["module", "cumulative", "self"],
            ([f"`{m}`", f"{c / 1000:.0f} ms", f"{s / 1000:.1f} ms"] for m, c, s in tree),
        )


# ---- targets -------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets_section(
    results: dict[str, CaseResult],
    realistic: Sequence[RealisticResult],
    mem: Memory,
    imports: dict[str, float],
) -> list[str]:
    """The issue #17 targets that this run measured, with the figure and a verdict."""
    rows: list[list[str]] = []

    def vs_floor(name: str, limit: float, what: str) -> None:
        res = results.get(name)
        if res is None or "sk-client" not in res.samples:
            return
        med_x, min_x = res.samples.ratio("sk-client", "json")
        rows.append(
            [
                f"{what}: StreamingClient ≤ {limit:g}x split + json.loads (median)",
                f"{fmt_x(med_x)} median, {fmt_x(min_x)} min ({fmt_us(res.us_per_event('sk-client'))} vs {fmt_us(res.us_per_event('json'))} µs/event)",
                _verdict(med_x <= limit),
            ]
        )

    vs_floor("openai-text-10k@16 KiB", 1.0, "OpenAI text, 16 KiB pieces")
    vs_floor("openai-text-10k@1 event", 1.3, "OpenAI text, one event per piece")
    vs_floor("openai-tools-10k@16 KiB", 1.0, "tool-call arguments, 16 KiB pieces")
    vs_floor("anthropic-text-10k@16 KiB", 1.3, "Anthropic, 16 KiB pieces")
    an = results.get("anthropic-text-10k@16 KiB")
    if an is not None and "anthropic" in an.samples:
        x = an.samples.median("anthropic") / an.samples.median("sk-client")
        rows.append(
            [
                "Anthropic: ≥ 4x faster than anthropic-sdk-python's raw stream",
                f"{fmt_x(x)} ({fmt_us(an.us_per_event('anthropic'))} vs {fmt_us(an.us_per_event('sk-client'))} µs/event)",
                _verdict(x >= 4),
            ]
        )
    if "streamkit" in imports and "openai" in imports:
        x = imports["streamkit"] / imports["openai"]
        rows.append(
            [
                "`import streamkit` ≤ 0.3x `import openai`",
                f"{imports['streamkit'] * 1000:.0f} ms vs {imports['openai'] * 1000:.0f} ms = {fmt_x(x)}",
                _verdict(x <= 0.3),
            ]
        )
    small, big = results.get("openai-text-1k@16 KiB"), results.get("openai-text-100k@16 KiB")
    if small is not None and big is not None:
        x = big.us_per_event("sk-client") / small.us_per_event("sk-client")
        rows.append(
            [
                "linear in stream length: µs/event at 100k chunks ≤ 1.5x at 1k",
                f"{fmt_us(big.us_per_event('sk-client'))} vs {fmt_us(small.us_per_event('sk-client'))} µs/event = {fmt_x(x)}",
                _verdict(x <= 1.5),
            ]
        )
    g = mem.growth("sk-client")
    if g is not None:
        per, a, b = g
        beyond = per - mem.text_per_chunk(a, b)
        rows.append(
            [
                "memory per chunk ≤ 50 B beyond the text kept",
                f"{per:.0f} B/chunk peak growth ({a // 1000}k→{b // 1000}k), {beyond:.0f} B beyond the text",
                _verdict(beyond <= 50),
            ]
        )
    for res in realistic:
        if res.scenario.streams < 100 or "sk-async" not in res.cpu_us:
            continue
        sk_cpu = res.median(res.cpu_us, "sk-async")
        if "asyncio-raw" in res.cpu_us:
            x = sk_cpu / res.median(res.cpu_us, "asyncio-raw")
            rows.append(
                [
                    f"realistic framing, {res.scenario.title}: CPU/event ≤ 1.5x raw asyncio",
                    f"{fmt_us(sk_cpu)} vs {fmt_us(res.median(res.cpu_us, 'asyncio-raw'))} µs = {fmt_x(x)}",
                    _verdict(x <= 1.5),
                ]
            )
        p99 = res.median(res.p99_ms, "sk-async")
        rows.append(
            [
                f"realistic framing, {res.scenario.title}: p99 delay ≤ 10 ms",
                fmt_ms(p99),
                _verdict(p99 <= 10),
            ]
        )
        if "httpx-sse" in res.cpu_us:
            ref = res.median(res.cpu_us, "httpx-sse")
            rows.append(
                [
                    "… without the aiohttp extra: CPU/event ≤ httpx-sse + json.loads",
                    f"{fmt_us(sk_cpu)} vs {fmt_us(ref)} µs = {fmt_x(sk_cpu / ref)}",
                    _verdict(sk_cpu <= ref),
                ]
            )
    if not rows:
        return []
    rep = Report()
    rep.add("## Targets (issue #17)", "")
    rep.table(["target", "measured", "verdict"], rows, "lll")
    return rep.lines
