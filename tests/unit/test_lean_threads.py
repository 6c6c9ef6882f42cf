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


def test_outcomes_ready_together_share_one_hand_back_in_order() -> None:
    """Accepts committed in one batch end at once: while the loop is busy, their outcomes join the
    hand-back already pending instead of each waking the loop again; each reaches its own future."""
    threads: _Threads[int] = _Threads(3, "test-together")
    done = threading.Barrier(4)
    wakes: list[object] = []

    def job(n: int) -> int:
        done.wait()
        if n == 1:
            raise LookupError("the second one failed")
        return n

    async def main() -> list[int | BaseException]:
        loop = asyncio.get_running_loop()
        schedule = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            wakes.append(args[0])
            return schedule(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
        futures = [threads.run(job, n) for n in range(3)]
        done.wait()  # the loop itself waits with the jobs: none of their outcomes can be settled yet
        for _ in range(3000):  # the loop stays busy (no await) until all three are handed back
            if len(threads._outcomes.get(loop, ())) == 3:
                break
            threading.Event().wait(0.01)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    outcomes = asyncio.run(main())
    threads.close()
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert isinstance(outcomes[1], LookupError)
    assert len(wakes) == 1


def test_an_outcome_for_a_closed_loop_is_dropped() -> None:
    """The loop is gone (its server stopped): the outcome is dropped, the thread is free for the next."""
    threads: _Threads[int] = _Threads(1, "test-closed")
    release = threading.Event()
    closed = asyncio.new_event_loop()

    async def start() -> asyncio.Future[int]:
        return threads.run(lambda: 1 if release.wait() else 0)

    closed.run_until_complete(start())
    closed.close()
    release.set()

    async def again() -> int:
        return await threads.run(int, "7")

    assert asyncio.run(again()) == 7
    assert threads._outcomes == {}
    threads.close()
