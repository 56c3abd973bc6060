"""Engine worker processes: a crash in durable_rules' C core costs one request, not the service.

Each worker builds its Engine once at start-up and then assesses one patient per message. A worker
that dies (segfault, kill) or hangs past the time limit is replaced; only the request it was
working on fails. Unlike ProcessPoolExecutor, one dead worker does not break the requests running
on the others, and a hung evaluation can be stopped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path

from ldncds.engine import Assessment, EngineError, LoadedRuleset, PatientFacts
from ldncds.leanstart import LEAN_SPAWN, settle

log = logging.getLogger("ldncds.workers")
# Never fork a threaded server; each worker starts clean, without the CLI import graph.
_SPAWN = LEAN_SPAWN


class EngineUnavailable(EngineError):
    """The engine process crashed or hung; it has been replaced, but this request gets no advice."""


class WorkerCrashed(RuntimeError):
    """The worker died or hung: no advice for this request."""


class WorkerEngineError(RuntimeError):
    """The engine in the worker refused to answer (EngineError or an unexpected exception)."""


@dataclass(frozen=True)
class Job:
    facts_json: str
    evaluation_date: date
    planned_start: date | None = None


def _worker_main(conn: Connection, rules_dir: str) -> None:
    from ldncds.engine import Engine, EngineError, PatientFacts

    try:
        engine = Engine(Path(rules_dir))
    except Exception as exc:  # the parent sees the message and stops start-up
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    settle()
    conn.send(("ready", engine.version))
    while True:
        try:
            job: Job | None = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            facts = PatientFacts.model_validate_json(job.facts_json)
            result = engine.assess(facts, job.evaluation_date, job.planned_start)
            conn.send(("ok", result.model_dump_json()))
        except EngineError as exc:
            conn.send(("engine_error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - any failure is "no advice", never a dead worker
            conn.send(("engine_error", f"unexpected {type(exc).__name__}"))


class _Worker:
    def __init__(self, rules_dir: Path) -> None:
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_worker_main, args=(child, str(rules_dir)), daemon=True, name="ldncds-engine"
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
        self, rules_dir: Path, size: int, *, job_timeout: float = 30.0, start_timeout: float = 120.0
    ) -> None:
        if size < 1:
            raise ValueError("the engine needs at least one worker process")
        self._rules_dir, self._job_timeout, self._start_timeout = rules_dir, job_timeout, start_timeout
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self.restarts = 0
        self.closed = False
        starting = [_Worker(rules_dir) for _ in range(size)]  # compile in parallel
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

    def assess_json(self, job: Job) -> str:
        """The Assessment as JSON. Blocks until a worker is free; raises WorkerCrashed/WorkerEngineError."""
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

    def _run(self, worker: _Worker, job: Job) -> str:
        try:
            worker.conn.send(job)
            if not worker.conn.poll(self._job_timeout):
                raise WorkerCrashed("the engine did not answer in time")
            status, payload = worker.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashed("the engine process died") from exc
        if status != "ok":
            raise WorkerEngineError(payload)
        return payload

    def _spawn(self) -> _Worker:
        return _Worker(self._rules_dir).wait_ready(self._start_timeout)

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
    """Looks like an `Engine` (ruleset, version, assess) but evaluates in worker processes.

    The rule files are loaded here too (without compiling them into durable_rules) so cards,
    discovery and pages can read titles and value sets without touching the C core.
    """

    def __init__(self, ruleset: LoadedRuleset, processes: int, *, job_timeout: float = 30.0) -> None:
        self.ruleset = ruleset
        self.pool = WorkerPool(ruleset.directory, processes, job_timeout=job_timeout)
        if self.pool.version != ruleset.version:
            self.pool.close()
            raise RuntimeError("the rule files changed while the engine workers started")

    @property
    def version(self) -> str:
        return self.ruleset.version

    def assess(
        self, facts: PatientFacts, evaluation_date: date, planned_start: date | None = None
    ) -> Assessment:
        job = Job(facts.model_dump_json(), evaluation_date, planned_start)
        try:
            return Assessment.model_validate_json(self.pool.assess_json(job))
        except WorkerCrashed as exc:
            raise EngineUnavailable(str(exc)) from exc
        except WorkerEngineError as exc:
            raise EngineError(str(exc)) from exc

    def close(self) -> None:
        self.pool.close()
