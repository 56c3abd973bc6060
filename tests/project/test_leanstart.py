"""Workers start lean: a spawned worker does not re-run the parent's main module (issue 15 item 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import multiprocessing as mp, os, sys, time
from pathlib import Path
if __name__ != "__main__":  # runs only when a child re-imports this file as __mp_main__
    Path(os.environ["MARKER"]).write_text("imported")
if __name__ == "__main__":
    from ldncds.leanstart import LEAN_SPAWN
    ctx = LEAN_SPAWN if sys.argv[1] == "lean" else mp.get_context("spawn")
    main = sys.modules["__main__"]
    before = (main.__file__, main.__spec__)
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start(); p.join()
    assert p.exitcode == 0, p.exitcode
    assert (main.__file__, main.__spec__) == before, "__main__ not restored"
"""


def _child_imported_main(tmp_path: Path, mode: str) -> bool:
    script = tmp_path / "parent_main.py"
    script.write_text(_SCRIPT)
    marker = tmp_path / f"marker-{mode}"
    env = {**os.environ, "MARKER": str(marker), "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, str(script), mode], check=True, env=env, timeout=120)
    return marker.exists()


def test_lean_spawn_child_skips_the_parent_main_module(tmp_path: Path) -> None:
    assert not _child_imported_main(tmp_path, "lean")


def test_plain_spawn_child_does_import_it(tmp_path: Path) -> None:
    # The control: without the lean context the child re-runs the parent's script.
    assert _child_imported_main(tmp_path, "spawn")


def test_young_collections_wait_for_the_end_of_a_job_and_the_threshold_comes_back() -> None:
    import gc

    from ldncds.leanstart import DEFERRED_GC_THRESHOLD, young_collections_deferred

    saved = gc.get_threshold()
    with young_collections_deferred():
        assert gc.get_threshold() == (DEFERRED_GC_THRESHOLD, *saved[1:])
        before = gc.get_stats()[0]["collections"]
        held = [[i] for i in range(20_000)]  # ~28 young collections at the default threshold
        assert gc.get_stats()[0]["collections"] == before
    assert gc.get_threshold() == saved and len(held) == 20_000
    try:
        with young_collections_deferred():
            raise ValueError("the job failed")
    except ValueError:
        pass
    assert gc.get_threshold() == saved  # restored however the job ends


def test_overlapping_jobs_restore_the_threshold_once_the_last_one_ends() -> None:
    import gc

    from ldncds.leanstart import DEFERRED_GC_THRESHOLD, young_collections_deferred

    saved = gc.get_threshold()
    first, second = young_collections_deferred(), young_collections_deferred()
    first.__enter__()
    second.__enter__()  # another thread's job starts before the first ends (a multi-threaded worker)
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == DEFERRED_GC_THRESHOLD  # the second job is still running
    second.__exit__(None, None, None)
    assert gc.get_threshold() == saved  # never left at the deferred threshold
