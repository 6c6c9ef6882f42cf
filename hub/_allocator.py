"""glibc's allocator, set for a server that holds large request bodies for a moment each.

Two of glibc's defaults make a threaded server's resident set follow its high-water mark rather than
what it holds (docs/benchmarks.md, "Memory", measures both):

* **The mmap threshold moves.** Once a large block (a 9 MB body) has been freed, blocks up to that size
  come from the heap of the thread's arena instead of a mapping of their own, and a heap gives memory
  back to the system only from its top, past a trim threshold that grew along. Each worker thread's
  arena then keeps about what its largest request needed, and a buffer grown in a heap is copied at
  each step. A fixed threshold (glibc's initial 128 KiB) keeps every large buffer — bodies, payloads,
  serialised documents — in a mapping of its own: grown without a copy, returned when freed.
* **Up to 8 arenas per core.** A thread that allocates while another does gets an arena of its own,
  and memory freed in one arena serves only the threads of that arena: the event loop reads bodies,
  the thread pool parses them, and eight requests in flight spread over as many arenas. One arena
  per core still lets every core allocate at once.

Neither limits anything: a request needs what it needs (``api.memory_budget`` bounds that); the
process just stops keeping what its requests gave back. An operator's own ``MALLOC_MMAP_THRESHOLD_``
or ``MALLOC_ARENA_MAX``, read by glibc at start, wins: a parameter set in the environment is left
alone. With another C library (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from collections.abc import Mapping
from typing import Final

__all__ = ["tune_allocator"]

log = logging.getLogger("lienthong.allocator")

#: mallopt parameters (glibc malloc.h).
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
#: glibc's initial (and, once set, fixed) mmap threshold.
MMAP_THRESHOLD: Final = 128 * 1024


def tune_allocator(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Set glibc's mmap threshold and arena count for this process, once, at start; return what was set.

    Only under glibc, and only for the parameters the environment does not set already.
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return {}
    wanted = {
        "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        "MALLOC_ARENA_MAX": (_M_ARENA_MAX, max(2, os.cpu_count() or 1)),
    }
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied: dict[str, int] = {}
    for name, (parameter, value) in wanted.items():
        if name in env:
            continue
        if mallopt(parameter, value) == 1:
            applied[name] = value
        else:
            log.warning("glibc refused mallopt for %s=%d; its default stays", name, value)
    log.debug("allocator: %s", ", ".join(f"{k}={v}" for k, v in applied.items()) or "left as it is")
    return applied
