"""The engine worker process itself: start-up, then one request's work per message.

This is the module a spawned worker imports (its target, `worker_main`, and the `Job`s it reads):
it imports the work and nothing of the server's side of the pool (asyncio, the event-loop I/O in
`workers`), so a worker holds only what its work needs (tests/api/test_worker_imports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ldncds.engine import Engine
from ldncds.leanstart import settle, young_collections_deferred
from ldncds.service.errors import ApiError
from ldncds.service.links import LinkSigner, reset_link_signer, use_link_signer
from ldncds.service.worklet import Work

from .logs import configure_logging, request_id_context


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


def worker_main(conn: Connection, setup: WorkerSetup) -> None:
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
        reply = answer(engine, job)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled
            conn.send(("error", type(exc).__name__))


def answer(engine: Engine, job: Job) -> tuple[str, Any]:
    token = use_link_signer(job.links)
    try:
        with request_id_context(job.request_id), young_collections_deferred():
            return ("ok", job.work(engine, job.task))
    except ApiError as exc:  # an answer that is an error (400, 412, no advice): the server sends it
        return ("refused", exc)
    except Exception as exc:  # noqa: BLE001 - a bug is that request's error, never a dead worker
        return ("error", type(exc).__name__)
    finally:
        reset_link_signer(token)
