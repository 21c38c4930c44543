"""A worker process that dies costs the work in flight, not every later task: its pool is replaced."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from facegrid.encoder.errors import WorkerDied
from facegrid.encoder.worker_pools import WorkerPools, result


def _pools() -> WorkerPools:
    return WorkerPools(lambda key: ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")))


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_a_task_whose_process_dies_fails_and_the_next_one_runs():
    pools = _pools()
    try:
        assert result(pools.submit("m", pow, 2, 10)) == 1024
        with pytest.raises(WorkerDied, match="send it again"):
            result(pools.submit("m", os._exit, 1))  # the process dies with the task in flight
        assert result(pools.submit("m", pow, 3, 3)) == 27
        assert pools.replaced == 1
    finally:
        pools.close()


def test_a_process_killed_while_idle_is_replaced_on_the_next_task():
    pools = _pools()
    try:
        pid = result(pools.submit("m", os.getpid))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not _gone(pid) and time.monotonic() < deadline:  # reaped: the pool knows it is broken
            time.sleep(0.05)
        assert result(pools.submit("m", pow, 2, 5)) == 32
        assert result(pools.submit("m", os.getpid)) != pid and pools.replaced == 1
    finally:
        pools.close()
