"""A command's start-up runs without the cyclic garbage collector.

Importing Hydra, torch and Lightning (which brings torchmetrics, torchvision and SciPy) and loading
the model makes hundreds of thousands of objects, and the collector's full passes over that growing
heap took about 0.9 s of every command's start (9 passes of up to 0.2 s each, all before the first
job's loop) to free a few tens of thousands of objects in module-level reference cycles (a 9-job
sweep's peak memory: 1.16 GB against 1.14 GB).

:func:`pause_during_start_up` turns the collector off when the command starts. :func:`resume`, once
the first job has its model (or has ended before it), freezes what start-up made (``gc.freeze``:
later full passes skip it, and it is still freed when nothing refers to it) and turns the collector
back on for the loops. Only a process that runs jobs does this, once: the command
(:func:`netviz.cli.run_hydra`) and a launcher's worker at its first job (:func:`netviz.cli.hydra_job`),
never ``import netviz`` or ``netviz.run`` in someone else's process.

:func:`skip_final_collection` lets a process of ours (the command, the tracking worker) end without
the interpreter's last full pass.
"""

from __future__ import annotations

import gc

_paused = False
_started = False  # a process has one start-up: the next jobs of a sweep run with the collector


def pause_during_start_up() -> None:
    """Turn the collector off until :func:`resume` (if it is on), the first time this process asks."""
    global _paused, _started
    if not _started and gc.isenabled():
        gc.disable()
        _paused = True
    _started = True


def resume() -> None:
    """Freeze what start-up made and turn the collector back on; nothing unless it was paused here."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def skip_final_collection() -> None:
    """Let this process end without the interpreter's last garbage collection.

    Registered before anything else, so that it runs after every other exit handler (Hydra's logs,
    the sweep's parent run, temporary folders, MLflow's): it moves every object left into the
    permanent generation (``gc.freeze``), which that collection skips. Over torch's, torchvision's
    and Lightning's objects it takes 0.7-2 s of a command's wall time (py-spy: ``gc_collect_main``
    under ``Py_FinalizeEx``), and over MLflow's, SQLAlchemy's and matplotlib's 0.7-1 s of the
    tracking worker's, which holds the command's output pipes until it ends; all only to free memory
    the operating system takes back anyway. Modules are still torn down, so objects outside
    reference cycles are finalized as before.
    """
    import atexit

    atexit.register(gc.freeze)
