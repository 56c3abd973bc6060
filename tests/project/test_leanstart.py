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
