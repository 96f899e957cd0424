#!/usr/bin/env python
"""streamkit benchmarks: the pipeline against its floors and peer libraries.

Usage (from the repository root)::

    python benchmarks/run.py                   # full run, writes benchmarks/RESULTS.md (~10 min)
    python benchmarks/run.py --quick           # about 1 min, prints the Markdown report
    python benchmarks/run.py --only realistic  # the parts whose name contains "realistic"
    python benchmarks/run.py --profile         # cProfile + stage breakdown of streamkit

Modules: ``harness`` (timing), ``transcripts`` (what is fed), ``competitors`` (the
in-memory columns and streamkit's stages), ``servers`` (the loopback server),
``loopback`` (the loopback clients), ``report`` (RESULTS.md). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))  # always measure this checkout's streamkit

import competitors as comp  # noqa: E402
import loopback  # noqa: E402
import report  # noqa: E402
from harness import (  # noqa: E402
    import_times,
    importtime_top,
    log,
    measure_peak,
    time_interleaved,
)
from servers import ServerProcess  # noqa: E402
from transcripts import TRANSCRIPTS, openai_text, transcript_name  # noqa: E402

import streamkit as sk  # noqa: E402

_SDKS = frozenset({"openai", "openai-helper", "anthropic", "anthropic-helper", "openai-responses"})


@dataclass
class CaseSpec:
    family: str
    """A key of ``transcripts.TRANSCRIPTS``."""
    chunks: int
    pieces: list[int | str]
    skip: frozenset[str] = frozenset()
    """Column keys left out (too slow to repeat at this size)."""
    rounds: int | None = None


@dataclass
class Plan:
    rounds: int
    round_s: float
    """A cheap column runs again within a round until about this long (more samples)."""
    cases: list[CaseSpec]
    stages: list[tuple[str, int, int | str]]
    """(family, chunks, piece) of each stage breakdown."""
    stage_rounds: int
    overhead: bool
    memory_sizes: list[int]
    memory_max: dict[str, int]
    """Largest transcript a column's memory is measured on (tracemalloc is slow)."""
    burst_chunks: int
    burst_concurrent: list[tuple[int, int, list[str], int]]
    """(streams, chunks, kinds, rounds)."""
    realistic: list[loopback.Scenario]
    realistic_rounds: int
    realistic_kinds: list[str] | None
    """None: every installed competitor."""
    import_modules: list[str]
    import_repeats: int


def make_plan(quick: bool, rounds: int | None) -> Plan:
    if quick:
        return Plan(
            rounds=rounds or 3,
            round_s=0.15,
            cases=[
                CaseSpec("openai-text", 1000, [16384]),
                CaseSpec("openai-text", 1000, [1], skip=_SDKS),
                CaseSpec(
                    "openai-text", 10_000, [16384, "event"], skip=frozenset({"openai-helper"})
                ),
                CaseSpec("anthropic-text", 10_000, [16384], skip=frozenset({"anthropic-helper"})),
            ],
            stages=[("openai-text", 10_000, 16384)],
            stage_rounds=3,
            overhead=False,
            memory_sizes=[],
            memory_max={},
            burst_chunks=1000,
            burst_concurrent=[(100, 100, ["httpx-async", "sk-async", "openai-async"], 1)],
            realistic=[loopback.Scenario(20, 50, 20_000), loopback.Scenario(1, 300, 1000)],
            realistic_rounds=1,
            realistic_kinds=["asyncio-raw", "httpx-sse", "sk-async", "openai"],
            import_modules=["streamkit", "openai"],
            import_repeats=3,
        )
    slow_at_1b = frozenset({"openai-helper", "anthropic-helper"})
    return Plan(
        rounds=rounds or 5,
        round_s=0.25,
        cases=[
            CaseSpec("openai-text", 1000, [16384, 1], skip=slow_at_1b),
            CaseSpec("openai-text", 10_000, [16384, "event"]),
            CaseSpec("openai-text", 100_000, [16384], skip=_SDKS, rounds=3),
            CaseSpec("openai-tools", 10_000, [16384, "event"]),
            CaseSpec("openai-tools", 1000, [1], skip=slow_at_1b),
            CaseSpec("anthropic-text", 10_000, [16384, "event"]),
            CaseSpec("anthropic-text", 1000, [1], skip=slow_at_1b),
            CaseSpec("responses-text", 10_000, [16384, "event"]),
            CaseSpec("responses-text", 1000, [1], skip=slow_at_1b),
        ],
        stages=[
            ("openai-text", 10_000, 16384),
            ("openai-text", 10_000, "event"),
            ("openai-tools", 10_000, 16384),
            ("anthropic-text", 10_000, 16384),
            ("responses-text", 10_000, 16384),
        ],
        stage_rounds=7,
        overhead=True,
        memory_sizes=[1000, 10_000, 100_000],
        memory_max={"openai": 10_000, "openai-helper": 10_000},
        burst_chunks=10_000,
        burst_concurrent=[
            (100, 1000, ["httpx-async", "sk-async", "openai-async"], 2),
            (500, 1000, ["httpx-async", "sk-async"], 1),
        ],
        realistic=[loopback.Scenario(100, 200, 20_000), loopback.Scenario(1, 2000, 1000)],
        realistic_rounds=2,
        realistic_kinds=None,
        import_modules=["streamkit", "httpx", "openai", "anthropic"],
        import_repeats=7,
    )


@dataclass
class Results:
    cases: list[comp.CaseResult] = field(default_factory=list)
    stages: list[comp.StageResult] = field(default_factory=list)
    overhead: dict[str, float] = field(default_factory=dict)
    memory: report.Memory = field(default_factory=report.Memory)
    burst: list[loopback.BurstResult] = field(default_factory=list)
    realistic: list[loopback.RealisticResult] = field(default_factory=list)
    imports: dict[str, float] = field(default_factory=dict)
    import_tree: list[tuple[str, float, float]] = field(default_factory=list)


def run_overhead(cols: Sequence[comp.Column], rounds: int) -> dict[str, float]:
    """µs per complete stream of a 1-chunk transcript (5 events): the fixed cost per stream."""
    case = comp.make_case(openai_text(1), 16384)
    by_key = {c.key: c for c in cols}
    runs = {c.key: c.make(case) for c in cols if c.applies(case) and not c.floor}
    samples = time_interleaved(runs, rounds, lambda k, r: comp.check(by_key[k], case, r), 0.05)
    return {k: statistics.median(v) * 1e6 for k, v in samples.times.items()}


def run_all(plan: Plan, wanted: Callable[[str], bool]) -> Results:
    out = Results()
    cols = comp.columns()

    specs = [
        (spec, TRANSCRIPTS[spec.family](spec.chunks))
        for spec in plan.cases
        if any(wanted(_case_name(spec.family, spec.chunks, p)) for p in spec.pieces)
    ]
    if specs or wanted("peak-memory"):
        log("warming up every column (and checking each reassembles the text) ...")
        families = {s.family for s, _ in specs} | (
            {"openai-text"} if wanted("peak-memory") else set()
        )
        for family in sorted(families):
            comp.warm_up(cols, TRANSCRIPTS[family])
    for spec, t in specs:
        for piece in spec.pieces:
            if not wanted(_case_name(spec.family, spec.chunks, piece)):
                continue
            case = comp.make_case(t, piece)
            rounds = spec.rounds or plan.rounds
            log(f"in-memory {case.name}: {rounds} rounds ...")
            chosen = [c for c in cols if c.key not in spec.skip]
            out.cases.append(comp.run_case(case, chosen, rounds, plan.round_s))

    if wanted("stages"):
        for family, chunks, piece in plan.stages:
            t = TRANSCRIPTS[family](chunks)
            log(f"stages on {t.name} @ {comp.piece_label(piece)} ...")
            out.stages.append(comp.run_stages(t, piece, plan.stage_rounds))

    if plan.overhead and wanted("overhead"):
        log("per-stream fixed cost (1-chunk streams) ...")
        out.overhead = run_overhead(cols, 20)

    if wanted("peak-memory"):
        for n in plan.memory_sizes:
            t = openai_text(n)
            case = comp.make_case(t, 16384)
            out.memory.text[n] = sys.getsizeof(t.text)
            for col in cols:
                if col.key in ("split", "orjson", "validate") or not col.applies(case):
                    continue
                if n > plan.memory_max.get(col.key, n):
                    continue
                log(f"memory {col.key} on {t.name} @ 16 KiB ...")
                out.memory.rows.setdefault(col.key, {})[n] = measure_peak(col.make(case))

    if wanted("burst") or wanted("realistic"):
        with ServerProcess() as server:
            log(f"loopback server on 127.0.0.1:{server.port}")
            if wanted("realistic"):
                kinds = plan.realistic_kinds or loopback.realistic_kinds()
                kinds = [k for k in kinds if k in loopback.realistic_kinds()]
                log(f"realistic framing: {len(kinds)} clients x {plan.realistic_rounds} rounds")
                out.realistic = loopback.realistic(
                    server, kinds, plan.realistic, plan.realistic_rounds
                )
            if wanted("burst"):
                log(f"burst: one stream x {plan.burst_chunks} chunks ...")
                out.burst.append(loopback.burst_single(server, plan.burst_chunks, plan.rounds))
                for streams, chunks, kinds, rounds in plan.burst_concurrent:
                    have = [k for k in kinds if k != "openai-async" or comp.openai is not None]
                    log(f"burst: {streams} concurrent streams ...")
                    out.burst.append(
                        loopback.burst_concurrent(server, have, streams, chunks, rounds)
                    )

    if wanted("import"):
        mods = [m for m in plan.import_modules if m == "streamkit" or _installed(m)]
        log(f"import times ({plan.import_repeats} fresh processes each) ...")
        out.imports = import_times(mods, plan.import_repeats, ROOT / "src")
        out.import_tree = importtime_top("streamkit", ROOT / "src")
    return out


def _case_name(family: str, chunks: int, piece: int | str) -> str:
    return f"inmemory:{transcript_name(family, chunks)}@{comp.piece_label(piece)}"


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def write_report(plan: Plan, res: Results, header: list[str]) -> str:
    cols = comp.columns()
    labels = {c.key: c.label for c in cols}
    rep = report.Report()
    rep.add(*header)
    by_name = {r.case.name: r for r in res.cases}
    rep.add(*report.targets_section(by_name, res.realistic, res.memory, res.imports))
    if res.realistic:
        report.realistic_section(rep, res.realistic)
    if res.cases:
        report.inmemory_section(rep, res.cases, cols)
    if res.stages:
        report.stages_section(rep, res.stages)
    if res.overhead:
        report.overhead_section(rep, res.overhead, labels)
    if res.memory.rows:
        report.memory_section(rep, res.memory, labels)
    if res.burst:
        report.burst_section(rep, res.burst)
    if res.imports:
        report.import_section(rep, res.imports, res.import_tree, plan.import_repeats)
    return "\n".join(rep.lines).rstrip() + "\n"


def profile(rounds: int) -> None:
    """Print the stage breakdown and cProfile's top functions on openai-text-10k @ 16 KiB."""
    t = openai_text(10_000)
    log("profiling streamkit StreamingClient on openai-text-10k @ 16 KiB ...")
    rep = report.Report()
    report.stages_section(rep, [comp.run_stages(t, 16384, rounds)])
    print("\n".join(rep.lines))
    run = comp.make_streamkit_client(comp.make_case(t, 16384))
    run()
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    print("## cProfile, sorted by tottime\n")
    print(buf.getvalue().replace(str(ROOT / "src") + "/", "").replace(sys.prefix + "/", ""))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a ~1 min subset; prints the report")
    ap.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only the parts whose name contains NAME (repeatable): inmemory, stages, "
        "overhead, peak-memory, realistic, burst, import, or a case such as openai-text-10k@16 KiB",
    )
    ap.add_argument(
        "--out",
        help="Markdown file to write ('-': stdout only). Default: benchmarks/RESULTS.md for a "
        "full run, stdout for --quick and --only",
    )
    ap.add_argument("--rounds", "--repeats", type=int, help="override the number of rounds")
    ap.add_argument(
        "--profile", action="store_true", help="stage breakdown + cProfile of streamkit, then exit"
    )
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.rounds or 5)
        return 0

    plan = make_plan(args.quick, args.rounds)
    only = args.only

    def wanted(name: str) -> bool:
        return not only or any(o.lower() in name.lower() for o in only)

    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/run.py", *sys.argv[1:]])
    results = run_all(plan, wanted)
    elapsed = time.perf_counter() - started
    header = [
        "# streamkit benchmark results",
        "",
        f"- Date: {stamp}; the run took {elapsed:.0f} s",
        f"- Command: `{command}` (from the repository root, with the dev venv's python; "
        "`make bench` runs it)",
        f"- Checkout: {report.checkout(ROOT)}",
        *report.machine_info(),
        f"- Libraries: {report.versions(sk.__version__)}",
        "- Method: see `benchmarks/README.md`. In memory: the same pre-cut pieces for every "
        "column, interleaved rounds, `time.perf_counter`, the heap alive before timing frozen "
        "(`gc.freeze()`). Loopback: `benchmarks/servers.py` in its own process on 127.0.0.1; "
        "realistic-framing clients each in a process of their own, CPU from "
        "`time.process_time`. On a shared machine only ratios within one table are meaningful.",
        "",
    ]
    text = write_report(plan, results, header)
    dest = (
        args.out
        if args.out is not None
        else ("-" if args.quick or only else str(HERE / "RESULTS.md"))
    )
    if dest != "-" and Path(dest).resolve() == (HERE / "RESULTS.md").resolve():
        text += included_sections()
    if dest == "-":
        sys.stdout.write(text)
    else:
        Path(dest).write_text(text)
        log(f"wrote {dest}")
    log(f"done in {elapsed:.0f} s")
    return 0


#: Sections other benchmarks write (``relay_bench.py``, ``ws_bench.py`` with ``--out``),
#: kept in RESULTS.md when a full run rewrites it.
INCLUDED = ("limits.md", "relay.md", "websocket.md")


def included_sections() -> str:
    """The sections of ``benchmarks/results/`` (see :data:`INCLUDED`), as they are."""
    parts = []
    for name in INCLUDED:
        path = HERE / "results" / name
        if path.exists():
            parts.append(path.read_text().strip() + "\n")
    return "".join("\n" + part for part in parts)


if __name__ == "__main__":
    sys.exit(main())
