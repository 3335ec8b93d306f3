"""Sweeps: the headline 9-job classviz grid with each launcher, against 9 plain PyTorch scripts.

``python run.py -m technique=classviz lr=0.1,5,10 l2=1e-5,1e-3,1e-2`` (efficientnet_lite0, 224 px,
:data:`ITERATIONS` steps, one target per job, tracked into a fresh SQLite store) with

- the basic launcher (the jobs one after another in one process): the reference of every ratio;
- joblib on the available cores (``hydra.launcher.n_jobs``);
- the batched launcher (``hydra/launcher=batched``: the 9 grid points as one batch of 9), on one
  thread as the other jobs, and on as many threads as there are cores (its one process computes the
  whole grid, as joblib's processes use the cores for theirs);
- 9 plain PyTorch scripts, one process each, doing the same update (``bench_classviz.plain_loop``)
  with no Hydra, no Lightning, no tracking.

Each is a real subprocess timed by wall clock, all in the same run. The per-job overhead inside a
sweep is what one more job costs beyond its own compute: the basic sweep of 9 jobs minus the same
sweep of 1 job (the process start, imports and the store's creation, paid once), over 8 jobs, minus
one job's own loop (timed in this process once warm; the sweep's jobs reuse the loaded model).
Every job runs on :data:`THREADS` torch thread: on two cores torch's default two threads make a
loop's time vary by up to 4x from run to run (60 classviz steps, untracked: 1.5 to 5.6 s), as any other
work (the tracking worker, joblib's other job) stalls one of them.
Targets: batched <= 0.6x basic on 2 CPU cores; >= 5x faster than basic on a GPU. A few minutes on
two idle CPU cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS = 20
LRS, L2S = ("0.1", "5", "10"), ("1e-5", "1e-3", "1e-2")
TARGET = 187  # Yorkshire terrier, the config's default target
THREADS = 1  # per job: on 2 cores, 2 torch threads a job make the loop's time vary by up to 4x


def grid(lrs: tuple[str, ...] = LRS, l2s: tuple[str, ...] = L2S, threads: int = THREADS) -> list[str]:
    """The sweep's overrides: the headline classviz grid ``lrs`` x ``l2s``, each job on ``threads`` threads."""
    return ["technique=classviz", "model=efficientnet_lite0", f"iterations={ITERATIONS}", f"lr={','.join(lrs)}",
            f"l2={','.join(l2s)}", "trainer.progress=false", f"trainer.threads={threads}"]


def accelerator() -> str:
    return "gpu" if torch.cuda.is_available() else "cpu"


def timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of a subprocess run in ``cwd`` with the project importable (it must succeed)."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return seconds


def sweep_seconds(launcher: list[str], folder: Path, overrides: list[str] | None = None) -> float:
    """Wall seconds of the 9-job grid (or ``overrides``) with ``launcher`` overrides, into a fresh store in ``folder``."""
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return timed([sys.executable, str(ROOT / "run.py"), "-m", *(overrides or grid()), f"trainer.accelerator={accelerator()}",
                  f"tracking.uri={uri}", *launcher], cwd=folder)


def plain_script(lr: float, l2: float) -> None:
    """One grid point as a plain PyTorch script would do it: load the model, 20 steps, save the image."""
    from PIL import Image

    from benchmarks.bench_classviz import plain_loop
    from netviz.figures import to_uint8
    from netviz.models import load_model
    from netviz.techniques.classviz import ClassVizOptions, noise_start

    torch.set_num_threads(THREADS)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model("efficientnet_lite0").to(device)
    options = ClassVizOptions(iterations=ITERATIONS, lr=lr, l2=l2)
    x = plain_loop(model, noise_start(model, 1).to(device), torch.tensor([TARGET], device=device), options)
    Image.fromarray(to_uint8(model.to_pixels(x).cpu())[0]).save(f"plain-lr{lr}-l2{l2}.png")


def job_compute_seconds() -> float:
    """A job's own compute: one 20-step classviz loop of the loaded model, in this (warm) process."""
    from netviz.models import load_model
    from netviz.techniques.classviz import ClassVizOptions, class_visualization

    trainer = {"accelerator": accelerator(), "progress": False}
    torch.set_num_threads(THREADS)  # as the sweep's jobs run
    model = load_model("efficientnet_lite0")
    class_visualization(model, TARGET, options=ClassVizOptions(iterations=2), **trainer)  # warm-up
    start = time.perf_counter()
    class_visualization(model, TARGET, options=ClassVizOptions(iterations=ITERATIONS), **trainer)
    return time.perf_counter() - start


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        seconds = {
            "basic": sweep_seconds([], folder / "basic"),
            "basic 1": sweep_seconds([], folder / "basic 1", grid(LRS[:1], L2S[:1])),
            "joblib": sweep_seconds(["hydra/launcher=joblib", f"hydra.launcher.n_jobs={cores}"], folder / "joblib"),
            "batched": sweep_seconds(["hydra/launcher=batched"], folder / "batched"),
            # one process computes the whole grid: its batch of 9 can use both cores' threads
            "batched all cores": sweep_seconds(["hydra/launcher=batched"], folder / "batched all cores", grid(threads=cores)),
        }
        (folder / "plain").mkdir()
        start = time.perf_counter()
        for lr in LRS:
            for l2 in L2S:
                timed([sys.executable, "-m", "benchmarks.bench_sweeps", "plain", lr, l2], cwd=folder / "plain")
        seconds["plain"] = time.perf_counter() - start
    compute = job_compute_seconds()
    basic = seconds["basic"]
    per_job = (basic - seconds["basic 1"]) / 8
    overhead = per_job - compute
    device = "GPU" if torch.cuda.is_available() else f"{cores} CPU cores"
    print(f"\n== sweeps: 9-job classviz grid lr x l2, efficientnet_lite0 224px, {ITERATIONS} steps, on {device}")
    print(f"{'launcher':44s} {'wall':>9s} {'ratio to basic':>15s}  target")
    targets = {"batched all cores": "<= 0.6 (CPU), <= 0.2 (GPU)", "basic": "reference"}
    for name, label in [("basic", "basic launcher (one process)"), ("joblib", f"joblib, n_jobs={cores}"),
                        ("batched", "batched launcher (one batch of 9)"),
                        ("batched all cores", f"the same batch on {cores} threads"),
                        ("plain", "9 plain PyTorch scripts")]:
        print(f"{label:44s} {seconds[name]:8.1f}s {seconds[name] / basic:15.3f}  {targets.get(name, 'information')}")
    print(f"basic launcher, the same sweep of 1 job: {seconds['basic 1']:.1f}s (the sweep's one-time start)")
    print(f"one more job in the basic sweep: {per_job:.2f}s; its own {ITERATIONS}-step loop (warm): {compute:.2f}s")
    print(f"per-job overhead inside the basic sweep: {overhead:.2f}s a job, {9 * overhead / basic:.0%} of the "
          f"sweep's wall (target <= 0.3 s a job)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["plain"]:
        plain_script(float(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
