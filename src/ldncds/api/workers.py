"""Engine worker processes: a crash in durable_rules' C core costs one request, not the service.

Each worker builds its Engine once at start-up, runs its warm-up jobs, and then runs one request's
work per message (service/worklet.py: FHIR mapping, scope, engine, cards, JSON), so the GIL-bound
server process keeps only HTTP, auth, EHR fetches and the store, and large charts are parsed in
parallel. A worker that dies (segfault, kill) or hangs past the time limit, mapping or assessing,
is replaced; only the request it was working on fails. Unlike ProcessPoolExecutor, one dead worker
does not break the requests running on the others, and a hung evaluation can be stopped.

The server talks to its workers on its event loop, without a thread: a request borrows an idle
worker (or waits for one, as a future), writes its job to the worker's socket and awaits the
answer with the loop's reader (non-blocking, in multiprocessing's framing, which the worker reads
and writes with its ordinary Connection). Only starting a replacement worker runs in a thread.
The worker's own side (start-up, the job loop) is `engine_process`, which imports none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import threading
from collections import deque
from multiprocessing.reduction import ForkingPickler
from typing import Any

from ldncds.engine import LoadedRuleset
from ldncds.leanstart import LEAN_SPAWN
from ldncds.service.links import current_link_signer
from ldncds.service.worklet import EngineFailed, Outcome, Work

from .engine_process import Job, WorkerSetup, worker_main
from .logs import current_request_id

log = logging.getLogger("ldncds.workers")
# Never fork a threaded server; each worker starts clean, without the CLI import graph.
_SPAWN = LEAN_SPAWN


class WorkerCrashed(RuntimeError):
    """The worker died or hung: no advice for this request."""


class WorkFailed(RuntimeError):
    """The work raised an unexpected exception in the worker (a bug: answered 500, as in-process)."""


class _Worker:
    def __init__(self, setup: WorkerSetup) -> None:
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=worker_main, args=(child, setup), daemon=True, name="ldncds-engine"
        )
        self.process.start()
        child.close()
        self.version = ""
        # close() stops workers from its own thread while the loop may be replacing the same one:
        # one stop at a time, and the pipe closed once (a second os.close could hit a reused fd).
        self._stopping = threading.Lock()

    def wait_ready(self, timeout: float) -> _Worker:
        """Block until the worker's Engine is compiled (or fail: stop it and raise RuntimeError)."""
        try:
            if not self.conn.poll(timeout):
                raise RuntimeError("engine worker did not start in time")
            status, detail = self.conn.recv()
        except (EOFError, OSError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"engine worker failed to start ({type(exc).__name__})") from exc
        if status != "ready":
            self.stop()
            raise RuntimeError(f"engine worker failed to start: {detail}")
        self.version = detail
        os.set_blocking(self.conn.fileno(), False)  # from now on read and written by the event loop
        return self

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        with self._stopping:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)
            if not self.conn.closed:
                self.conn.close()


def _frame(payload: bytes | memoryview) -> bytes:
    """multiprocessing.Connection's framing: a 4-byte signed length, or -1 and an 8-byte one."""
    if len(payload) > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, len(payload)) + payload
    return struct.pack("!i", len(payload)) + payload


async def _write(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
    """All of `data` to the non-blocking `fd`; waits for the loop's writer only when the socket is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            writable = loop.create_future()
            loop.add_writer(fd, writable.set_result, None)
            try:
                await writable
            finally:
                loop.remove_writer(fd)


class _Answer:
    """Reads one framed message from a non-blocking fd, as the loop reports it readable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.fd, self.buffer, self.size = fd, bytearray(), -1
        self.done: asyncio.Future[bytes] = loop.create_future()

    def readable(self) -> None:
        if self.done.done():
            return
        try:
            chunk = os.read(self.fd, max(65536, self.size - len(self.buffer)))
        except BlockingIOError:
            return
        except OSError as exc:
            self.done.set_exception(WorkerCrashed(f"the engine process died ({type(exc).__name__})"))
            return
        if not chunk:
            self.done.set_exception(WorkerCrashed("the engine process died"))
            return
        self.buffer += chunk
        self._complete()

    def _complete(self) -> None:
        if self.size < 0 and len(self.buffer) >= 4:
            (size,) = struct.unpack_from("!i", self.buffer)
            if size == -1:
                if len(self.buffer) < 12:
                    return
                (size,) = struct.unpack_from("!Q", self.buffer, 4)
                del self.buffer[:8]
            self.size = size
            del self.buffer[:4]
        if self.size >= 0 and len(self.buffer) >= self.size:
            self.done.set_result(bytes(self.buffer[: self.size]))


class WorkerPool:
    """A fixed number of engine processes; each request borrows one (on the event loop)."""

    def __init__(
        self,
        setup: WorkerSetup,
        size: int,
        *,
        job_timeout: float = 30.0,
        start_timeout: float = 120.0,
    ) -> None:
        if size < 1:
            raise ValueError("the engine needs at least one worker process")
        self._setup, self._job_timeout, self._start_timeout = setup, job_timeout, start_timeout
        self._idle: deque[_Worker] = deque()
        self._waiting: deque[asyncio.Future[_Worker]] = deque()  # requests waiting for a worker
        self._all: set[_Worker] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()  # loops of several threads may share the pool (tests do)
        self.restarts = 0
        self.closed = False
        starting = [_Worker(setup) for _ in range(size)]  # compile in parallel
        try:
            for worker in starting:
                self._add(worker.wait_ready(start_timeout))
        except RuntimeError:
            for worker in starting:
                worker.stop()
            raise

    @property
    def version(self) -> str:
        return next(iter(self._all)).version

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.process.pid for w in self._all if w.process.pid is not None)

    def healthy(self) -> bool:
        with self._lock:
            return not self.closed and bool(self._all)

    async def submit(self, job: Job) -> tuple[str, Any]:
        """(status, payload) of the job. Waits until a worker is free; raises WorkerCrashed."""
        if self.closed:
            raise WorkerCrashed("the engine is shutting down")
        payload = _frame(ForkingPickler.dumps(job))
        worker = await self._borrow()
        give_back = True
        try:
            if not worker.alive():  # died while idle: replace it; this request has not run yet
                worker = await self._replace(worker, "died while idle")
                if not worker.alive():
                    raise WorkerCrashed("no engine worker could be started")
            try:
                return await self._run(worker, payload)
            except WorkerCrashed:
                worker = await self._replace(worker, "crashed or hung during an evaluation")
                raise
            except BaseException:  # cancelled mid-job: its answer would reach the next job
                give_back = False
                self._replace_later(worker, "its request was cancelled")
                raise
        finally:
            if give_back:
                self._give_back(worker)

    async def _run(self, worker: _Worker, payload: bytes) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        fd = worker.conn.fileno()
        answer = _Answer(loop, fd)
        try:
            async with asyncio.timeout(self._job_timeout):
                await _write(loop, fd, payload)
                loop.add_reader(fd, answer.readable)
                try:
                    data = await answer.done
                finally:
                    loop.remove_reader(fd)
        except TimeoutError:
            raise WorkerCrashed("the engine did not answer in time") from None
        except OSError as exc:  # the worker's end closed: EPIPE, ECONNRESET
            raise WorkerCrashed("the engine process died") from exc
        result: tuple[str, Any] = ForkingPickler.loads(data)
        return result

    async def _borrow(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.popleft()
            waiting: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiting)
        return await waiting  # a cancelled waiter is skipped by _give_back

    def _give_back(self, worker: _Worker) -> None:
        """To the longest-waiting request (on whichever loop it waits), else to the idle workers."""
        with self._lock:
            while self._waiting:
                waiting = self._waiting.popleft()
                if waiting.done():  # cancelled while waiting
                    continue
                loop = waiting.get_loop()
                if _running_loop() is loop:
                    waiting.set_result(worker)
                else:
                    loop.call_soon_threadsafe(self._hand_over, waiting, worker)
                return
            self._idle.append(worker)

    def _hand_over(self, waiting: asyncio.Future[_Worker], worker: _Worker) -> None:
        if waiting.done():  # cancelled before the hand-over ran: to the next one
            self._give_back(worker)
        else:
            waiting.set_result(worker)

    def _spawn(self) -> _Worker:
        return _Worker(self._setup).wait_ready(self._start_timeout)

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            self._all.add(worker)
            self._idle.append(worker)

    async def _replace(self, worker: _Worker, why: str) -> _Worker:
        """A fresh worker for `worker` (started in a thread: seconds of imports and compiling). If it
        cannot start, `worker` is given back as it is, and the next request tries again."""
        await asyncio.to_thread(worker.stop)
        if self.closed:  # shutting down: nothing to replace it for
            return worker
        log.error("engine worker replaced", extra={"fields": {"pid": worker.process.pid, "why": why}})
        try:
            fresh = await asyncio.to_thread(self._spawn)
        except RuntimeError as exc:
            log.error("engine worker could not be restarted", extra={"fields": {"error": str(exc)}})
            return worker
        with self._lock:
            self._all.discard(worker)
            self._all.add(fresh)
            self.restarts += 1
        return fresh

    def _replace_later(self, worker: _Worker, why: str) -> None:
        async def replace() -> None:
            self._give_back(await self._replace(worker, why))

        task = asyncio.get_running_loop().create_task(replace())
        self._replacing.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(self._replacing.discard)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            workers = list(self._all)
            waiting, self._waiting = list(self._waiting), deque()
        for future in waiting:
            future.get_loop().call_soon_threadsafe(_fail, future)
        for worker in workers:
            with contextlib.suppress(OSError):
                os.write(worker.conn.fileno(), _frame(ForkingPickler.dumps(None)))
            worker.stop()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _fail(future: asyncio.Future[_Worker]) -> None:
    if not future.done():
        future.set_exception(WorkerCrashed("the engine is shutting down"))


class PooledEngine:
    """Looks like an `Engine` to the server (ruleset, version) but runs the work in worker processes.

    The rule files are loaded here too (without compiling them into durable_rules) so discovery,
    pages and readiness can read titles and value sets without touching the C core.
    """

    def __init__(
        self,
        ruleset: LoadedRuleset,
        processes: int,
        *,
        job_timeout: float = 30.0,
        warm_up: tuple[Job, ...] = (),
        log_level: str | None = None,
    ) -> None:
        self.ruleset = ruleset
        setup = WorkerSetup(str(ruleset.directory), warm_up, log_level)
        self.pool = WorkerPool(setup, processes, job_timeout=job_timeout)
        if self.pool.version != ruleset.version:
            self.pool.close()
            raise RuntimeError("the rule files changed while the engine workers started")

    @property
    def version(self) -> str:
        return self.ruleset.version

    async def run_async(self, work: Work[Any], task: Any) -> Outcome:
        """`work(engine, task)` in a worker; its ApiError is raised here, a crash or hang is no advice."""
        job = Job(work, task, current_link_signer(), current_request_id())
        try:
            status, payload = await self.pool.submit(job)
        except WorkerCrashed as exc:
            raise EngineFailed("EngineUnavailable") from exc
        if status == "ok":
            outcome: Outcome = payload
            return outcome
        if status == "refused":
            raise payload
        log.error("the work failed in the engine worker", extra={"fields": {"error": payload}})
        raise WorkFailed(payload)

    def close(self) -> None:
        self.pool.close()
