"""Group commit: concurrent callers of one store operation share one transaction and one fsync.

A commit costs a round trip and, durably, an fsync (``synchronous=FULL`` on SQLite, ``fsync`` on
PostgreSQL); per statement, SQLAlchemy costs a few hundred microseconds of Python (docs/benchmarks.md).
When several request threads accept messages at once, or several delivery threads record outcomes, one
of them (the leader: whoever takes the lock first) writes everything queued so far in one transaction
with one statement per table, while the others wait; each caller gets its own answer only once that
transaction has committed, so an acknowledgement still follows a durable write. Nobody waits for a
batch to fill: a lone caller is a batch of one, written at once, and a batch forms only from callers
that arrived while the previous one was being written.

How a batch is written, and what happens when one item in it cannot be (each item alone, so that one
bad message does not fail the others), is the writer's business: it answers per item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

#: A batch bigger than this is split: one transaction should not hold the write lock for long.
MAX_BATCH = 64


@dataclass(eq=False)
class _Pending(Generic[Item, Answer]):
    item: Item
    done: bool = False
    answer: Answer | None = None
    error: BaseException | None = field(default=None, repr=False)


class GroupCommit(Generic[Item, Answer]):
    """Runs ``write(batch)`` for whatever callers queued while the previous batch was written.

    ``write`` returns one answer (or exception, to be raised in that caller) per item, in order; an
    exception raised by ``write`` itself is every item's answer.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Answer | BaseException]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._queue: list[_Pending[Item, Answer]] = []
        self._queue_lock = threading.Lock()
        self._writing = threading.Lock()  # held by the leader while its batch is written

    def submit(self, item: Item) -> Answer:
        pending: _Pending[Item, Answer] = _Pending(item)
        with self._queue_lock:
            self._queue.append(pending)
        while not _done(pending):
            with self._writing:
                if _done(pending):  # a leader wrote it while this thread waited for the lock
                    break
                with self._queue_lock:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                self._run(batch)
        if pending.error is not None:
            raise pending.error
        return pending.answer  # type: ignore[return-value]  # set with done, never None when no error

    def _run(self, batch: list[_Pending[Item, Answer]]) -> None:
        try:
            answers = self._write([p.item for p in batch])
        except BaseException as error:
            for p in batch:
                p.error, p.done = error, True
            if not isinstance(error, Exception):
                raise
            return
        for p, answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                p.error = answer
            else:
                p.answer = answer
            p.done = True


def _done(pending: _Pending[Any, Any]) -> bool:
    return pending.done  # read afresh each time: another thread sets it
