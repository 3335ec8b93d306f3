"""``make bench``: every ``benchmarks/bench_*.py`` module's ``main()``, in name order."""

import importlib
import pkgutil
import sys
from pathlib import Path

import torch

if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    selected = [n for n in names if not sys.argv[1:] or any(a in n for a in sys.argv[1:])]
    for name in selected:
        importlib.import_module(f"benchmarks.{name}").main()
