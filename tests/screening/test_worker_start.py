"""Pool workers are forked from a fork server that imported the screening code once (issue 15 item 4).

A spawned worker imported ldncds (pydantic building every model's validator) before its first
patient: ~0.5 s CPU per worker per run. Forked from the server, a worker starts with the imports
done; it must still never re-run the parent's __main__ and never be a fork of the parent itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PROBE = """
import os, sys
def probe():
    return {"pid": os.getpid(), "ppid": os.getppid(), "lean_before_task": "ldncds.fhir.lean" in BEFORE}
BEFORE = set(sys.modules)  # what the process had when this module was first imported
"""

_SCRIPT = """
import json, os, sys
from pathlib import Path
if __name__ != "__main__":  # runs only when a child re-imports this file as __mp_main__
    Path(os.environ["MARKER"]).write_text("imported")
if __name__ == "__main__":
    from concurrent.futures import ProcessPoolExecutor
    from ldncds.screening.runner import worker_context
    import probe_module
    main = sys.modules["__main__"]
    before = (main.__file__, main.__spec__)
    with ProcessPoolExecutor(2, mp_context=worker_context()) as pool:
        seen = [pool.submit(probe_module.probe).result() for _ in range(4)]
    assert (main.__file__, main.__spec__) == before, "__main__ not restored"
    print(json.dumps({"parent": os.getpid(), "seen": seen}))
"""


def _run(tmp_path: Path) -> tuple[dict[str, object], bool]:
    (tmp_path / "probe_module.py").write_text(_PROBE)
    script = tmp_path / "parent_main.py"
    script.write_text(_SCRIPT)
    marker = tmp_path / "marker"
    paths = [str(tmp_path), *sys.path]
    env = {**os.environ, "MARKER": str(marker), "PYTHONPATH": os.pathsep.join(paths)}
    out = subprocess.run(
        [sys.executable, str(script)], check=True, env=env, timeout=180, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), marker.exists()


def test_workers_come_from_the_fork_server_with_the_imports_done(tmp_path: Path) -> None:
    result, reran_main = _run(tmp_path)
    assert not reran_main, "a worker re-ran the parent's __main__"
    seen = result["seen"]
    assert isinstance(seen, list) and seen
    parents = {s["ppid"] for s in seen}
    # Forked by the fork server (one process), not by the parent and not spawned by it.
    assert len(parents) == 1 and result["parent"] not in parents
    assert all(s["pid"] != result["parent"] for s in seen)
    # The screening code was imported before the worker ran anything (preloaded in the server).
    assert all(s["lean_before_task"] for s in seen)
