"""Timing helpers shared by the benchmarks: medians of repeated runs, ratios measured side by side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int = 5) -> dict[str, float]:
    """Median seconds of each candidate, run in alternation so that drift in the machine hits all alike."""
    for fn in candidates.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """Print rows of ``(what, framework seconds, reference seconds, target)`` with their ratio."""
    print(f"\n== {title}")
    print(f"{'measure':58s} {'netviz':>10s} {'reference':>10s} {'ratio':>7s}  target")
    for what, ours, reference, target in rows:
        print(f"{what:58s} {ours * 1e3:8.1f}ms {reference * 1e3:8.1f}ms {ours / reference:7.3f}  {target}")
