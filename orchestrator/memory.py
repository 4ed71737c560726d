"""Large blocks go back to the system when they are freed.

glibc's malloc serves a block of 128 KiB or more with mmap, and returns it to the system on
free; but each time such a block is freed it raises that threshold to the block's size (up to
32 MiB), so later large blocks come from the heap instead, where freed memory stays with the
process. A worker that ends a map of 10,000 items (its results gathered into one output, one
event, one row) or a web process that serves that run's detail (13 MB of JSON) kept 70-100 MB
after each such task, and more with the next (bench/map.py). With the threshold fixed, those
blocks are unmapped when freed: a map of 3,000 items three times in one process grew it by
10 MB instead of 41 MB, in the same time.

Set in every process of the app (web, worker, beat, commands) as Django starts; an operator's
own ``MALLOC_MMAP_THRESHOLD_`` wins. Nothing happens where the C library is not glibc.

And after a task or a request that left the process 16 MiB larger than after the last trim, its
garbage is collected and the heap's free pages are handed back (``malloc_trim``). The objects of
such a request are mostly cycles (DRF's serializers point at their fields and back), which the
web process collects late (its young generation only every 7,000 objects, its start-up objects
frozen out of full passes: orchestrator/asgi.py): each GET of that 13 MB run detail left Daphne
85 MB larger than the one before, 255, 341, 421 MB. What the smaller blocks of such a task (a
map's 10,000 results as Python objects) leave free is kept too otherwise. A full collection and
a walk of the heap take tens of milliseconds at most, so they happen only when the process grew.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_BLOCK_BYTES = 128 * 1024  # glibc's own starting threshold
TRIM_AFTER_GROWTH_BYTES = 16 * 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018  (glibc has it; musl and macOS do not)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_libc = _glibc()


def return_large_blocks() -> bool:
    """Fix malloc's mmap threshold; whether it was set."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or _libc is None:
        return False
    mallopt = _libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))


def resident_bytes() -> int | None:
    """This process's resident memory (Linux), or None."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class _Trimmer:
    def __init__(self) -> None:
        self.mark: int | None = None
        self.pid = 0

    def after_work(self) -> bool:
        """Trim if the process grew by TRIM_AFTER_GROWTH_BYTES since the last trim (or since it
        was first measured); whether it trimmed."""
        now = resident_bytes()
        if now is None or _libc is None:
            return False
        if self.mark is None or self.pid != os.getpid():  # first call here, or a forked child
            self.mark, self.pid = now, os.getpid()
            return False
        if now - self.mark < TRIM_AFTER_GROWTH_BYTES:
            self.mark = min(self.mark, now)
            return False
        gc.collect()
        _libc.malloc_trim(0)
        self.mark = resident_bytes() or now
        return True


_trimmer = _Trimmer()


def trim_if_grown(**_: object) -> bool:
    """After a task or a request (a signal receiver): see the module's docstring."""
    return _trimmer.after_work()
