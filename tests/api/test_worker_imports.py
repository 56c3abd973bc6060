"""An engine worker imports what its work needs, not the server's stack: no web framework, metrics,
HTTP client, event loop, database or CLI libraries (memory per worker, start-up time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "httpx",
    "sqlalchemy",
    "jwt",
    "pydantic_settings",  # settings arrive with each task
    "asyncio",  # the pool's event-loop side (api.workers) and the FHIR fetches (cdshooks.fetch)
    "ssl",
)
CLI_ONLY = ("typer", "rich", "alembic", "jinja2")

_WORKER = textwrap.dedent(
    """
    import json, pickle, sys
    from datetime import date
    from pathlib import Path
    from ldncds.api.engine_process import Job, answer   # the worker's entry module
    from ldncds.engine import Engine
    jobs = pickle.loads(sys.stdin.buffer.read())  # as a worker receives them: work functions by name
    engine = Engine()
    answers = [answer(engine, job)[0] for job in jobs]
    from ldncds.fhir import lean
    built = [n for n, c in vars(lean).items() if isinstance(c, type) and issubclass(c, lean._Model)
             and c.__pydantic_complete__]
    print(json.dumps({"answers": answers, "modules": sorted(sys.modules), "lean_built": built}))
    """
)


def test_an_engine_worker_running_every_kind_of_work_imports_no_server_or_cli_library() -> None:
    import pickle

    from ldncds.api.app import _warm_up_jobs  # a patient-view request and a Bundle for the JSON API

    env = {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _WORKER],
        input=pickle.dumps(_warm_up_jobs()),
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert result["answers"] == ["ok", "ok"]  # the work really ran, mapping FHIR included
    packages = {m.split(".")[0] for m in result["modules"]}
    assert sorted(packages & set(SERVER_ONLY + CLI_ONLY)) == []
    # Records the lean models vouch for never load fhir.resources' ~700 complex types (~1.6 MiB);
    # only a record that needs full validation does.
    assert [m for m in result["modules"] if m.startswith("fhir.resources.R4B.")] == []
    # lean.RESOURCE validates every resource type with one validator: no class builds its own.
    assert result["lean_built"] == []
