"""Timing helpers shared by the benchmarks: medians of repeated runs, ratios measured side by side.

The clock is wall time; ``NETVIZ_BENCH_CLOCK=process`` uses this process's CPU time instead, which
other jobs on a shared machine disturb far less (run it with ``OMP_NUM_THREADS=1``, so that CPU time
is the time of the one thread doing the work).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator

clock = time.process_time if os.environ.get("NETVIZ_BENCH_CLOCK") == "process" else time.perf_counter


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread: on two cores, torch's two threads make a step's time vary by
    up to 4x from run to run (any other work stalls one of them), which would swamp the ratios."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int = 5) -> dict[str, float]:
    """Median seconds of each candidate, run in alternation so that drift in the machine hits all alike."""
    for fn in candidates.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """Print rows of ``(what, framework seconds, reference seconds, target)`` with their ratio."""
    print(f"\n== {title}")
    print(f"{'measure':74s} {'netviz':>10s} {'reference':>10s} {'ratio':>7s}  target")
    for what, ours, reference, target in rows:
        print(f"{what:74s} {ours * 1e3:8.1f}ms {reference * 1e3:8.1f}ms {ours / reference:7.3f}  {target}")


def per_step_rows(
    title: str,
    netviz: Callable[[int], object],
    plain: Callable[[int], object],
    short: int,
    long: int,
    rounds: int = 3,
) -> list[tuple[str, float, float, str]]:
    """Report rows for a loop's time per step and its fixed cost, netviz against plain PyTorch.

    ``netviz(steps)`` and ``plain(steps)`` each run a whole loop of ``steps`` updates. The time per
    step is the slope between a ``short`` and a ``long`` loop, so that the fixed cost of starting a
    loop (the Lightning Trainer's setup) is measured apart from the steps. Both run on one thread
    (:func:`one_thread`).
    """
    with one_thread():
        times = interleaved(
            {
                f"netviz {short}": lambda: netviz(short),
                f"netviz {long}": lambda: netviz(long),
                f"plain {short}": lambda: plain(short),
                f"plain {long}": lambda: plain(long),
            },
            rounds=rounds,
        )
    step = {k: (times[f"{k} {long}"] - times[f"{k} {short}"]) / (long - short) for k in ("netviz", "plain")}
    fixed = {k: times[f"{k} {short}"] - short * step[k] for k in ("netviz", "plain")}
    return [
        (f"time per step: {title} (slope {short}..{long} steps)", step["netviz"], step["plain"], "<= 1.05"),
        ("fixed cost of one loop (Lightning Trainer start)", fixed["netviz"], max(fixed["plain"], 1e-4), "information"),
    ]
