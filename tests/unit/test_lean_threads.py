"""The lean submit's worker threads (``lean_submit._Threads``): a call's outcome reaches the waiting
request as ``run_in_executor`` would deliver it, at most ``limit`` threads run, and they end on close."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from lienthong.intake.lean_submit import _Threads

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="-")


def test_result_exception_and_context_reach_the_caller() -> None:
    threads: _Threads[Any] = _Threads(4, "test-threads")

    def seen() -> tuple[str, str]:
        return REQUEST.get(), threading.current_thread().name

    def fail() -> None:
        raise LookupError("refused in the thread")

    async def main() -> None:
        REQUEST.set("r-1")
        value, name = await threads.run(seen)
        assert value == "r-1"
        assert name.startswith("test-threads_")
        with pytest.raises(LookupError, match="refused in the thread"):
            await threads.run(fail)
        assert await threads.run(sum, [1, 2, 3]) == 6

    asyncio.run(main())
    threads.close()


def test_no_more_threads_than_the_limit_and_idle_ones_reused() -> None:
    threads: _Threads[int] = _Threads(2, "test-limit")
    release = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def job(n: int) -> int:
        with lock:
            running.append(threading.current_thread().name)
        release.wait()
        return n

    async def main() -> list[int]:
        futures = [threads.run(job, n) for n in range(5)]
        while len(running) < 2:  # both threads busy; the other jobs wait in the queue
            await asyncio.sleep(0.001)
        assert len({t.name for t in threading.enumerate() if t.name.startswith("test-limit_")}) == 2
        release.set()
        return list(await asyncio.gather(*futures))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert set(running) == {"test-limit_0", "test-limit_1"}
    workers = [t for t in threading.enumerate() if t.name.startswith("test-limit_")]
    threads.close()
    for worker in workers:
        worker.join()


def test_a_cancelled_request_leaves_no_error_behind() -> None:
    """The client went away: its future is cancelled before the thread is done, and the outcome
    arriving later is dropped (no "Exception in callback" from setting a cancelled future)."""
    threads: _Threads[int] = _Threads(1, "test-cancel")
    started, release = threading.Event(), threading.Event()
    errors: list[dict[str, Any]] = []

    def job() -> int:
        started.set()
        release.wait()
        return 1

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        future = threads.run(job)
        await asyncio.to_thread(started.wait)
        future.cancel()
        release.set()
        assert await threads.run(int, "2") == 2  # the one thread, free again after the first job

    asyncio.run(main())
    threads.close()
    assert errors == []
