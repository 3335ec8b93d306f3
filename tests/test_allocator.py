"""A job's process keeps freed tensor memory for reuse (glibc's mallopt), and only when it may."""

import os
import subprocess
import sys
import textwrap

import pytest

from netviz.tracking import PACKAGE_PARENT

# In a fresh process: is a freed 64 MiB tensor's memory mapped anew (glibc's default) or kept in the heap?
PROBE = textwrap.dedent("""
    import ctypes, torch
    from netviz.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    kept = keep_freed_memory()
    block = torch.empty(64 << 20, dtype=torch.uint8)
    block.fill_(1)
    mapped = libc.mallinfo2().hblkhd  # bytes in blocks of their own mapping
    del block
    print(kept, mapped >= 64 << 20, libc.mallinfo2().fordblks >= 64 << 20)  # freed, still in the heap
""")


def probe(**env) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "NETVIZ_KEEP"))}
    environment.update(env, PYTHONPATH=str(PACKAGE_PARENT))
    done = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only")


@glibc
def test_a_large_freed_block_stays_in_the_heap_for_the_next_step():
    assert probe() == ["True", "False", "True"]


@glibc
@pytest.mark.parametrize("env", [{"NETVIZ_KEEP_FREED_MEMORY": "0"}, {"MALLOC_MMAP_THRESHOLD_": "131072"}])
def test_the_user_can_keep_mallocs_own_behaviour(env):
    assert probe(**env) == ["False", "True", "False"]  # mapped on its own, and handed back when freed


def test_importing_netviz_changes_nothing():
    code = "import netviz, netviz.job, netviz.allocator; print(netviz.allocator._done)"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(PACKAGE_PARENT)},
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["None"], done.stderr[-2000:]
