"""The engine worker pool's I/O on the event loop (api/workers.py), without HTTP in between.

Messages larger than a socket buffer cross both ways whole; requests waiting for a busy worker are
served in turn, each with its own answer; a request cancelled mid-job costs its worker (replaced,
so its late answer never reaches the next job) and a cancelled waiter costs nothing; a hung job is
stopped at the time limit; close() fails the requests still waiting.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ldncds.api.workers import Job, WorkerCrashed, WorkerPool, WorkerSetup, _Worker
from ldncds.engine.assess import default_rules_dir
from ldncds.leanstart import DEFERRED_GC_THRESHOLD
from support import worker_faults

pytestmark = pytest.mark.slow  # starts engine processes (about a second each)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(WorkerSetup(str(default_rules_dir())), 1, job_timeout=3.0)
    yield pool
    pool.close()


async def echo(pool: WorkerPool, payload: bytes) -> bytes:
    status, outcome = await pool.submit(Job(worker_faults.echo, payload))
    assert status == "ok"
    body: bytes = outcome.body
    return body


async def slow_echo(pool: WorkerPool, seconds: float, payload: bytes) -> Any:
    return await pool.submit(Job(worker_faults.sleep_then_echo, (seconds, payload)))


def test_messages_larger_than_a_socket_buffer_cross_whole(pool: WorkerPool) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    assert asyncio.run(echo(pool, payload)) == payload


def test_a_job_runs_without_young_collections_of_its_own_objects(pool: WorkerPool) -> None:
    # 20,000 live lists: at the default threshold (700) that is ~28 young collections walking them.
    async def ask() -> Any:
        return await pool.submit(Job(worker_faults.young_collections_while_allocating, 20_000))

    status, outcome = asyncio.run(ask())
    assert status == "ok"
    threshold, ran, held = map(int, outcome.body.split(b","))
    assert (threshold, ran, held) == (DEFERRED_GC_THRESHOLD, 0, 20_000)


def test_waiting_requests_are_served_in_turn_each_with_its_own_answer(pool: WorkerPool) -> None:
    async def many() -> list[bytes]:
        return await asyncio.gather(*(echo(pool, f"request {i}".encode() * (i + 1)) for i in range(12)))

    assert asyncio.run(many()) == [f"request {i}".encode() * (i + 1) for i in range(12)]


def test_a_request_cancelled_mid_job_costs_its_worker_not_the_next_answer(pool: WorkerPool) -> None:
    before = pool.restarts

    async def cancel_then_ask() -> bytes:
        running = asyncio.ensure_future(slow_echo(pool, 0.5, b"stale"))
        await asyncio.sleep(0.2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return await echo(pool, b"fresh")  # waits for the replacement worker

    assert asyncio.run(cancel_then_ask()) == b"fresh"
    assert pool.restarts == before + 1


def test_a_cancelled_waiter_costs_nothing(pool: WorkerPool) -> None:
    before = pool.restarts

    async def scenario() -> tuple[Any, bytes]:
        busy = asyncio.ensure_future(slow_echo(pool, 0.3, b"busy"))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(echo(pool, b"never"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        done = await busy
        return done, await echo(pool, b"after")

    (status, outcome), after = asyncio.run(scenario())
    assert (status, outcome.body, after) == ("ok", b"busy", b"after")
    assert pool.restarts == before


def test_a_hung_job_is_stopped_at_the_time_limit(pool: WorkerPool) -> None:
    before = pool.restarts
    with pytest.raises(WorkerCrashed, match="in time"):
        asyncio.run(slow_echo(pool, 30, b"hung"))
    assert pool.restarts == before + 1
    assert asyncio.run(echo(pool, b"next")) == b"next"


def test_close_fails_the_requests_still_waiting() -> None:
    pool = WorkerPool(WorkerSetup(str(default_rules_dir())), 1, job_timeout=5.0)

    async def scenario() -> list[Any]:
        busy = asyncio.ensure_future(slow_echo(pool, 1.0, b"busy"))
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(echo(pool, b"waiting"))
        await asyncio.sleep(0.1)
        await asyncio.to_thread(pool.close)
        return list(await asyncio.gather(busy, waiting, return_exceptions=True))

    results = asyncio.run(scenario())
    assert all(isinstance(r, WorkerCrashed) for r in results), results
    assert not pool.healthy()
    assert pool.restarts == 0  # the busy worker's end is not replaced after close


class _SlowClosingPipe:
    """A worker's pipe whose close takes a while: two unguarded stops would both close its fd."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.closes = conn, 0

    @property
    def closed(self) -> bool:
        return bool(self.conn.closed)

    def close(self) -> None:
        self.closes += 1
        time.sleep(0.05)
        self.conn.close()


def test_a_worker_stopped_from_two_threads_at_once_closes_its_pipe_once() -> None:
    # pool.close() (a thread) and the loop replacing a crashed worker stop the same worker together.
    worker = _Worker(WorkerSetup(str(default_rules_dir())))
    pipe = _SlowClosingPipe(worker.conn)
    worker.conn = pipe  # type: ignore[assignment]
    failures: list[BaseException] = []

    def stop() -> None:
        try:
            worker.stop()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=stop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (failures, pipe.closes, worker.alive()) == ([], 1, False)
