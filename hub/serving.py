"""``hub serve --processes N``: several hub processes on one port, sharing one database.

One hub process is bounded by one core (Python's interpreter lock; docs/benchmarks.md). With
``--processes N`` uvicorn's supervisor binds the port once, starts N processes that accept on that
one socket (the kernel hands each connection to one of them), restarts a process that dies, and on
SIGTERM or Ctrl-C stops them all gracefully. Each process builds its own hub from the same
configuration (:func:`app_from_environment`) — REST and SOAP intake, delivery workers, polls — and
they share the work through the database, as separate ``hub serve``/``hub worker`` processes always
could: PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``; SQLite lets one writer at a time in
(``BEGIN IMMEDIATE``, the others wait in its busy timeout) on one machine; polls and the axis receive
run once per tick under their lease in ``poll_state``. Nothing is held in one process that another
needs: an accepted message is in the database before its 202, whichever process answered.
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

#: How the supervisor tells each process where its configuration is (and how much to log).
CONFIG_ENV = "LIENTHONG_SERVE_CONFIG"
VERBOSE_ENV = "LIENTHONG_SERVE_VERBOSE"


def serve_processes(
    config_dir: Path,
    processes: int,
    *,
    host: str,
    port: int,
    verbose: bool,
    grace: int,
    loop: str,
    tls: dict[str, Any],
) -> None:
    """Run ``processes`` hub processes on ``host:port`` until SIGTERM or Ctrl-C, each on the event
    loop ``loop`` (``api.event_loop``)."""
    import uvicorn

    os.environ[CONFIG_ENV] = str(config_dir.resolve())
    os.environ[VERBOSE_ENV] = "1" if verbose else ""
    uvicorn.run(
        "lienthong.serving:app_from_environment",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        loop=loop,
        timeout_graceful_shutdown=grace,
        **tls,
    )


def app_from_environment() -> FastAPI:
    """The app of one of the processes: the hub built from the configuration the supervisor named."""
    from lienthong._allocator import tune_allocator
    from lienthong.compose import build_hub
    from lienthong.config.files import load_configuration
    from lienthong.intake.rest import create_app

    logging.basicConfig(
        level=logging.INFO if os.environ.get(VERBOSE_ENV) else logging.WARNING,
        format=f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s: %(message)s",
    )
    tune_allocator()
    hub = build_hub(load_configuration(Path(os.environ[CONFIG_ENV])))
    atexit.register(hub.store.close)
    logging.getLogger("lienthong.serve").info("hub process %d ready", os.getpid())
    return create_app(hub)
