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
    print(json.dumps({"answers": answers, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
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
    assert sorted(set(result["modules"]) & set(SERVER_ONLY + CLI_ONLY)) == []
