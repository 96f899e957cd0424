"""Measuring: interleaved rounds, the frozen heap, min/median ratios, memory, import time.

Every table compares columns measured over the same stretch of time: a round runs
each column (cheap ones several times, costly ones once, spread in between), and the
order alternates between rounds, so a load spike on a shared machine hits all columns
alike. Ratios are reported two ways: of the medians and of the minimums (the min is
the run least disturbed by anything else on the machine).
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()


def log(msg: str) -> None:
    """A progress line on stderr, with the seconds since the run started."""
    print(f"[{time.perf_counter() - _T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move everything alive now (modules, SDK type caches, clients) out of the GC's sight.

    With openai imported the heap holds ~200k objects and a full collection costs
    ~0.1 s; without freezing, whichever column happens to trigger one pays for the
    whole process. Frozen, each column's GC work is its own garbage.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _sample(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


@dataclass
class Samples:
    """Seconds per complete run, per column key."""

    times: dict[str, list[float]] = field(default_factory=dict)
    rounds: int = 0

    def median(self, key: str) -> float:
        return statistics.median(self.times[key])

    def min(self, key: str) -> float:
        return min(self.times[key])

    def max(self, key: str) -> float:
        return max(self.times[key])

    def ratio(self, key: str, ref: str) -> tuple[float, float]:
        """``(median ratio, min ratio)`` of ``key``'s time to ``ref``'s."""
        return self.median(key) / self.median(ref), self.min(key) / self.min(ref)

    def __contains__(self, key: str) -> bool:
        return key in self.times


def time_interleaved(
    runs: dict[str, Callable[[], Any]],
    rounds: int,
    check: Callable[[str, Any], None],
    round_s: float = 0.25,
) -> Samples:
    """Time every function in ``rounds`` interleaved rounds.

    A first pass runs each function once (its result goes to ``check``) and sorts
    them into cheap (under ``round_s``) and costly ones. Every round then runs the
    cheap ones ``k`` times over, round-robin (A B C A B C ..., order alternating),
    with the costly ones spread evenly in between. Costly columns get one sample per
    round (the first pass counts as one); cheap ones ``k`` per round (``k`` ≤ 7, about
    ``round_s`` of work per column).
    """
    keys = list(runs)
    out = Samples({k: [] for k in keys}, rounds)
    with frozen_heap():
        first: dict[str, float] = {}
        for key in keys:
            dt, result = _sample(runs[key])
            check(key, result)
            del result
            first[key] = dt
        cheap = [k for k in keys if first[k] < round_s]
        costly = [k for k in keys if k not in cheap]
        for key in costly:
            out.times[key].append(first[key])
        k_sub = max(1, min(7, int(round_s / max(first[c] for c in cheap)))) if cheap else 0
        for r in range(rounds):
            schedule: list[str] = []
            for i in range(k_sub):
                schedule += cheap if (r + i) % 2 == 0 else cheap[::-1]
            these = (costly if r % 2 == 0 else costly[::-1]) if r > 0 else []
            for j, key in enumerate(these):
                schedule.insert((j + 1) * len(schedule) // (len(these) + 1) + j, key)
            for key in schedule:
                dt, _ = _sample(runs[key])
                out.times[key].append(dt)
    return out


def measure_peak(fn: Callable[[], Any]) -> int:
    """Peak traced memory of one run, in bytes (the input must be allocated before)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _current, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak


def percentile(values: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


# ---- import time --------------------------------------------------------------------------------


def _env_with_src(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with warm .pyc caches, as users do
    return env


def import_times(modules: Sequence[str], repeats: int, src: Path) -> dict[str, float]:
    """Median ``python -c "import X"`` minus ``python -c "pass"``, fresh processes, interleaved."""
    env = _env_with_src(src)
    stmts = {"(python -c pass)": "pass", **{m: f"import {m}" for m in modules}}
    for stmt in stmts.values():  # compile the .pyc files once
        subprocess.run([sys.executable, "-c", stmt], env=env, check=True)
    samples: dict[str, list[float]] = {k: [] for k in stmts}
    for r in range(repeats):
        for key in list(stmts) if r % 2 == 0 else reversed(list(stmts)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmts[key]], env=env, check=True)
            samples[key].append(time.perf_counter() - t0)
    base = statistics.median(samples.pop("(python -c pass)"))
    out = {k: statistics.median(v) - base for k, v in samples.items()}
    out["(python -c pass)"] = base
    return out


def importtime_top(module: str, src: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """The biggest imports (cumulative µs, self µs) under ``import module`` (``-X importtime``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_env_with_src(src),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 3:
            rows.append((name.strip(), float(cum_us), float(self_us)))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]
