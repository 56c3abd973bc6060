"""The served app's start-up objects are frozen out of the cyclic GC (api/app.py `serve_app`).

Otherwise every full collection walks the ~150,000 objects of the modules, models and routes with
the event loop stopped (~100 ms on the 2-core machine): a latency spike for every request in flight.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.servers import source_env

_SCRIPT = """
import gc
from ldncds.api.app import serve_app
app = serve_app()
print(gc.get_freeze_count(), len(gc.get_objects()))
app.state.writer.close()
"""


def test_serve_app_leaves_the_collector_only_what_requests_allocate(tmp_path: Path) -> None:
    env = source_env(LDNCDS_ENGINE_PROCESSES="0", LDNCDS_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    frozen, tracked = map(int, done.stdout.split())
    assert frozen > 50_000  # the start-up objects: permanent, never walked again
    assert tracked < frozen / 20  # what a full collection still walks
