"""GroupCommit (hub/store/_sqlbatch.py): callers queued while a batch is written share the next one,
each gets its own answer or error, and a failure of the whole write reaches every caller in it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from lienthong.store._sqlbatch import GroupCommit


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def write(self, batch: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        return [ValueError(f"odd {n}") if n % 2 else n * 10 for n in batch]


def submit_queued(group: GroupCommit[int, int], items: list[int]) -> list[object]:
    """Submit ``items`` from threads that all queue while the writer lock is held, then let go."""
    answers: list[object] = [None] * len(items)

    def run(i: int) -> None:
        try:
            answers[i] = group.submit(items[i])
        except Exception as error:
            answers[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(items))]
    with group._writing:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(group._queue) < len(items) and time.monotonic() < deadline:
            time.sleep(0.005)
    for t in threads:
        t.join(10)
    return answers


def test_a_lone_caller_is_a_batch_of_one_written_at_once() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write)
    assert group.submit(4) == 40
    with pytest.raises(ValueError, match="odd 3"):
        group.submit(3)
    assert recorder.batches == [[4], [3]]


def test_callers_queued_meanwhile_share_one_batch_and_get_their_own_answers() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write)
    answers = submit_queued(group, [2, 3, 4, 6])
    assert answers[0] == 20 and answers[2] == 40 and answers[3] == 60
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "odd 3"
    assert [sorted(b) for b in recorder.batches] == [[2, 3, 4, 6]]


def test_batches_are_bounded_and_every_caller_is_answered() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write, max_batch=3)
    answers = submit_queued(group, [2, 4, 6, 8, 10, 12, 14])
    assert sorted(a for a in answers if isinstance(a, int)) == [20, 40, 60, 80, 100, 120, 140]
    assert [len(b) for b in recorder.batches] == [3, 3, 1]


def test_a_failed_write_is_every_callers_error() -> None:
    def write(batch: Sequence[int]) -> list[int | BaseException]:
        raise ConnectionError("database unavailable")

    answers = submit_queued(GroupCommit(write), [1, 2, 3])
    assert all(isinstance(a, ConnectionError) for a in answers)
