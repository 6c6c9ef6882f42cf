"""``hub serve`` and ``hub worker`` set glibc's mmap threshold and arena count, unless the operator did."""

from __future__ import annotations

import os
import platform
import sys

import pytest

from lienthong._allocator import MMAP_THRESHOLD, tune_allocator

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def test_both_parameters_are_set_when_the_environment_sets_neither() -> None:
    applied = tune_allocator({})
    assert applied == {
        "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD,
        "MALLOC_ARENA_MAX": max(2, os.cpu_count() or 1),
    }


@pytest.mark.parametrize("name", ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"])
def test_a_parameter_the_operator_set_is_left_alone(name: str) -> None:
    applied = tune_allocator({name: "4"})
    assert name not in applied
    assert len(applied) == 1
