"""A job's allocator setting (:mod:`netviz.allocator`): a CPU forward/backward pass with glibc's
default malloc against the same pass with freed memory kept for reuse, in two fresh processes.

efficientnet_lite0, 224 px, 1 thread, the time per input of a forward and backward pass at batches of
1, 4 and 16 (median of 3 rounds). The ratio is the job's setting over glibc's default: below 1 is faster.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import report

SIZES = (1, 4, 16)


def per_input_seconds() -> dict[int, float]:
    import torch

    from netviz.models import load_model

    torch.set_num_threads(1)
    model = load_model("efficientnet_lite0")
    inputs = {size: torch.randn(size, 3, 224, 224, generator=torch.Generator().manual_seed(0)) for size in SIZES}

    def passes(size: int) -> None:
        for _ in range(max(1, 16 // size)):
            x = inputs[size].clone().requires_grad_()
            torch.autograd.grad(model(x)[:, 1].sum(), x)

    for size in SIZES:
        passes(size)  # warm-up
    times: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(3):
        for size in SIZES:
            start = time.perf_counter()
            passes(size)
            times[size].append((time.perf_counter() - start) / (max(1, 16 // size) * size))
    return {size: statistics.median(values) for size, values in times.items()}


def in_fresh_process(keep: bool) -> dict[int, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NETVIZ_KEEP_FREED_MEMORY": "1" if keep else "0"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_allocator", "child"], env=env, capture_output=True, text=True, check=True)
    return {int(size): seconds for size, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    default, kept = in_fresh_process(False), in_fresh_process(True)
    rows = [(f"forward + backward per input, batch of {size}: freed memory kept vs glibc's default", kept[size], default[size], "< 1 is faster")
            for size in SIZES]
    report("a job's allocator setting (efficientnet_lite0, 224 px, 1 thread)", rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        from netviz.allocator import keep_freed_memory

        if os.environ.get("NETVIZ_KEEP_FREED_MEMORY") == "1":
            assert keep_freed_memory(), "glibc's mallopt is not available here"
        print(json.dumps(per_input_seconds()))
    else:
        main()
