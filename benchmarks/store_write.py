"""CPU time per decision-log write: the code before issue 15, the current path, and group commit.

    .venv/bin/python benchmarks/store_write.py [--writes 1000] [--before be216a0] [--postgres URL]
                                               [--json out.json]

Every write stores one engine assessment of an `examples/` patient (facts ~1.5 kB, assessment
~27 kB of JSON) in an on-disk SQLite log (WAL, synchronous=FULL) in a temporary folder, through
`record_assessment`, as the service does. CPU is time.process_time() of the whole process (all
threads) over the timed writes, divided by their number: less disturbed by other load than wall
time. Each run ends with `verify()` of the chain. Modes:

  before       the store as of git revision --before (extracted with `git archive` and run in a child
               process; skipped when git or the revision is not available), 1 thread
  after        the current code, 1 thread
  append only  the current code, records prepared beforehand (the server's share when an engine
               worker process runs prepare_record)
  8 threads    the current code, 8 writer threads, no group commit (before and after)
  group of 8   the current code, 8 writer threads, store_group_commit_max=8 (wait 0 ms)
  append only, group of 8   both: the server's share with workers preparing and group commit on

With --postgres the after / group modes also run against a new database on that server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import EVALUATION_DATE, ROOT, machine, write_json

THREADS = 8


def _workload(count: int) -> list[tuple[Any, Any]]:
    """(facts, assessment) pairs, each assessment a fresh copy without an id (record_assessment sets it)."""
    from ldncds.engine import Engine, PatientFacts

    engine = Engine()
    patients = [
        PatientFacts.model_validate_json(p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    assessed = [(f, engine.assess(f, EVALUATION_DATE)) for f in patients]
    return [(f, a.model_copy(deep=True)) for i in range(count) for f, a in [assessed[i % len(assessed)]]]


def _timed(writes: list[Callable[[], Any]], threads: int) -> float:
    """CPU seconds of this process while running `writes` on `threads` threads."""
    start = time.process_time()
    if threads == 1:
        for write in writes:
            write()
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda chunk: [w() for w in chunk], [writes[i::threads] for i in range(threads)]))
    return time.process_time() - start


def _measure(
    store: Any, work: list[tuple[Any, Any]], threads: int, *, prepared: bool = False
) -> dict[str, Any]:
    from ldncds.store import Caller, record_assessment

    caller, raw = Caller(channel="api"), b'{"resourceType":"Bundle"}'
    warm, timed = work[: len(work) // 10], work[len(work) // 10 :]
    for facts, assessment in warm:
        record_assessment(store, facts, assessment, raw, caller, "bench")
    if prepared:
        from ldncds.store import prepare_record

        records = [prepare_record(f, a, raw, caller, "bench") for f, a in timed]
        writes: list[Callable[[], Any]] = [lambda p=p: store.record(prepared=p) for p in records]
    else:
        writes = [lambda f=f, a=a: record_assessment(store, f, a, raw, caller, "bench") for f, a in timed]
    groups_before = store.group.groups if getattr(store, "group", None) else 0
    wall = time.perf_counter()
    cpu = _timed(writes, threads)
    wall = time.perf_counter() - wall
    report = store.verify()
    result = {
        "writes": len(timed),
        "cpu_us_per_write": round(cpu / len(timed) * 1e6, 1),
        "wall_us_per_write": round(wall / len(timed) * 1e6, 1),
        "chain_intact": report.intact,
        "records": report.records,
    }
    if getattr(store, "group", None):
        result["mean_group_size"] = round(len(timed) / max(1, store.group.groups - groups_before), 2)
    return result


@contextmanager
def _postgres_database(base_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    from ldncds.store.sql import normalise_url

    base = sa.make_url(normalise_url(base_url))
    name = f"ldncds_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run_modes(writes: int, modes: list[str], postgres: str | None) -> dict[str, Any]:
    """In this process: the modes the code on sys.path supports (the old code has no group commit)."""
    from ldncds.store import open_store

    out: dict[str, Any] = {}
    group_capable = "group_commit_max" in open_store.__code__.co_varnames
    for mode in modes:
        if mode != "after" and mode != "8 threads" and not group_capable:
            continue
        grouped, prepared = "group of 8" in mode, mode.startswith("append only")
        options = {"group_commit_max": 8 if grouped else 1, "group_commit_wait_ms": 0}
        threads = THREADS if grouped or mode == "8 threads" else 1
        for backend in ["sqlite"] + (["postgresql"] if postgres and group_capable else []):
            with (
                tempfile.TemporaryDirectory(prefix="ldncds-store-bench-") as tmp,
                _database(backend, tmp, postgres) as url,
            ):
                store = open_store(url, **options) if group_capable else open_store(url)
                key = mode if backend == "sqlite" else f"{mode} (postgresql)"
                out[key] = _measure(store, _workload(writes), threads, prepared=prepared)
                store.close()
                print(f"{key:28s} {out[key]}", file=sys.stderr, flush=True)
    return out


@contextmanager
def _database(backend: str, tmp: str, postgres: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{Path(tmp) / 'decisions.db'}"
        return
    assert postgres is not None
    with _postgres_database(postgres) as url:
        yield url


def _before(revision: str, writes: int) -> dict[str, Any]:
    """The old code in a child process (its own `ldncds` package on PYTHONPATH)."""
    with tempfile.TemporaryDirectory(prefix="ldncds-store-before-") as tmp:
        archive = subprocess.run(["git", "archive", revision, "src"], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            print(f"before: git archive {revision} failed; skipped", file=sys.stderr)
            return {}
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        out = Path(tmp) / "out.json"
        env = os.environ | {"PYTHONPATH": str(Path(tmp) / "src"), "LDNCDS_RULES_DIR": str(ROOT / "rules")}
        command = [sys.executable, __file__, "--child", "--writes", str(writes), "--json", str(out)]
        subprocess.run(command, env=env, check=True, cwd=ROOT)
        data = json.loads(out.read_text())
    return {f"before: {mode}": result for mode, result in data.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=1000, help="writes per mode (a tenth more to warm up)")
    parser.add_argument("--before", default="be216a0", help="git revision of the old write path ('' to skip)")
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created and dropped)")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    writes = args.writes + args.writes // 9
    if args.child:  # the old code: the modes it has
        write_json(_run_modes(writes, ["after", "8 threads"], None), args.json_out)
        return
    results = _before(args.before, writes) if args.before else {}
    modes = ["after", "append only", "8 threads", "group of 8", "append only, group of 8"]
    results |= _run_modes(writes, modes, args.postgres)
    _print(results)
    if args.json_out:
        write_json({"machine": machine(), "results": results}, args.json_out)


def _print(results: dict[str, Any]) -> None:
    print("| mode | CPU µs/write | wall µs/write | mean group | chain |")
    print("|---|---:|---:|---:|---|")
    for mode, r in results.items():
        name = mode.replace("before: after", "before").replace("before: 8 threads", "before, 8 threads")
        group = r.get("mean_group_size", "")
        chain = "intact" if r["chain_intact"] else "BROKEN"
        print(f"| {name} | {r['cpu_us_per_write']:.0f} | {r['wall_us_per_write']:.0f} | {group} | {chain} |")


if __name__ == "__main__":
    main()
