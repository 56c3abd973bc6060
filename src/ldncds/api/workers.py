"""Engine worker processes: a crash in durable_rules' C core costs one request, not the service.

Each worker builds its Engine once at start-up, runs its warm-up jobs, and then runs one request's
work per message (service/worklet.py: FHIR mapping, scope, engine, cards, JSON), so the GIL-bound
server process keeps only HTTP, auth, EHR fetches and the store, and large charts are parsed in
parallel. A worker that dies (segfault, kill) or hangs past the time limit, mapping or assessing,
is replaced; only the request it was working on fails. Unlike ProcessPoolExecutor, one dead worker
does not break the requests running on the others, and a hung evaluation can be stopped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ldncds.engine import Engine, LoadedRuleset
from ldncds.leanstart import LEAN_SPAWN, settle
from ldncds.service.errors import ApiError
from ldncds.service.links import LinkSigner, current_link_signer, reset_link_signer, use_link_signer
from ldncds.service.worklet import EngineFailed, Outcome, Work

from .logs import configure_logging, current_request_id, request_id_context

log = logging.getLogger("ldncds.workers")
# Never fork a threaded server; each worker starts clean, without the CLI import graph.
_SPAWN = LEAN_SPAWN


class WorkerCrashed(RuntimeError):
    """The worker died or hung: no advice for this request."""


class WorkFailed(RuntimeError):
    """The work raised an unexpected exception in the worker (a bug: answered 500, as in-process)."""


@dataclass(frozen=True)
class Job:
    """One request's work, and the request context its cards and log lines need."""

    work: Work[Any]
    task: Any
    links: LinkSigner | None = None  # signs the cards' page links (JWT on)
    request_id: str | None = None


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker (and every replacement) starts with."""

    rules_dir: str
    warm_up: tuple[Job, ...] = ()  # run once before the worker says it is ready
    log_level: str | None = None  # JSON log lines as the server writes them; None: leave logging be


def _worker_main(conn: Connection, setup: WorkerSetup) -> None:
    try:
        engine = Engine(Path(setup.rules_dir))
        for warm_up in setup.warm_up:  # first-request costs: imports, FHIR model classes, first assessment
            warm_up.work(engine, warm_up.task)
    except Exception as exc:  # the parent sees the message and stops start-up
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    if setup.log_level is not None:  # after the warm-up: its synthetic patient is no one's news
        configure_logging(setup.log_level)
    settle()
    conn.send(("ready", engine.version))
    while True:
        try:
            job: Job | None = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a job that cannot be unpickled is that job's error
            conn.send(("error", type(exc).__name__))
            continue
        if job is None:
            return
        answer = _answer(engine, job)
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled
            conn.send(("error", type(exc).__name__))


def _answer(engine: Engine, job: Job) -> tuple[str, Any]:
    token = use_link_signer(job.links)
    try:
        with request_id_context(job.request_id):
            return ("ok", job.work(engine, job.task))
    except ApiError as exc:  # an answer that is an error (400, 412, no advice): the server sends it
        return ("refused", exc)
    except Exception as exc:  # noqa: BLE001 - a bug is that request's error, never a dead worker
        return ("error", type(exc).__name__)
    finally:
        reset_link_signer(token)


class _Worker:
    def __init__(self, setup: WorkerSetup) -> None:
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_worker_main, args=(child, setup), daemon=True, name="ldncds-engine"
        )
        self.process.start()
        child.close()
        self.version = ""

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
        return self

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """A fixed number of engine processes; each request borrows one."""

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
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
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

    def submit(self, job: Job) -> tuple[str, Any]:
        """(status, payload) of the job. Blocks until a worker is free; raises WorkerCrashed."""
        if self.closed:
            raise WorkerCrashed("the engine is shutting down")
        worker = self._idle.get()
        try:
            if not worker.alive():  # died while idle: replace it; this request has not run yet
                worker = self._replace(worker, "died while idle")
            return self._run(worker, job)
        except WorkerCrashed:
            worker = self._replace(worker, "crashed or hung during an evaluation")
            raise
        finally:
            self._idle.put(worker)

    def _run(self, worker: _Worker, job: Job) -> tuple[str, Any]:
        try:
            worker.conn.send(job)
            if not worker.conn.poll(self._job_timeout):
                raise WorkerCrashed("the engine did not answer in time")
            answer: tuple[str, Any] = worker.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashed("the engine process died") from exc
        return answer

    def _spawn(self) -> _Worker:
        return _Worker(self._setup).wait_ready(self._start_timeout)

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker, why: str) -> _Worker:
        log.error("engine worker replaced", extra={"fields": {"pid": worker.process.pid, "why": why}})
        worker.stop()
        fresh = self._spawn()
        with self._lock:
            self._all.discard(worker)
            self._all.add(fresh)
            self.restarts += 1
        return fresh

    def close(self) -> None:
        with self._lock:
            self.closed = True
            workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.stop()


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

    def run(self, work: Work[Any], task: Any) -> Outcome:
        """`work(engine, task)` in a worker; its ApiError is raised here, a crash or hang is no advice."""
        job = Job(work, task, current_link_signer(), current_request_id())
        try:
            status, payload = self.pool.submit(job)
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
