"""Screening on a (small, local) Dask cluster gives exactly the single-process result."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest

from ldncds.engine import Engine, PatientFacts, load_ruleset
from ldncds.screening import ScreeningRow, ScreenOptions, generate_population, screen_export
from ldncds.screening.patient import engine_for

ON = date(2026, 3, 1)
ROOT = Path(__file__).resolve().parents[2]


def _run(folder: Path, **options: object) -> tuple[list[ScreeningRow], object]:
    rows: list[ScreeningRow] = []
    bad: list[object] = []
    summary = screen_export(folder, ScreenOptions(evaluation_date=ON, **options), rows.append, bad.append)
    assert bad == []
    return rows, summary


def test_the_ruleset_shipped_to_workers_decides_as_the_rule_files() -> None:
    # Workers get the driver's LoadedRuleset pickled (a Dask scatter, a pool's initargs), not the files.
    shipped = pickle.loads(pickle.dumps(load_ruleset(ROOT / "rules")))
    from_files = engine_for(ROOT / "rules")
    worker = Engine(shipped)  # not engine_for: its cache would hand back the engine built from the files
    assert worker.version == from_files.version
    for path in sorted((ROOT / "examples").glob("*.json")):
        facts = PatientFacts.model_validate_json(path.read_bytes())
        assert worker.assess(facts, ON) == from_files.assess(facts, ON), path.name


@pytest.mark.slow
def test_dask_local_cluster_matches_single_process(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    generate_population(40, tmp_path, seed=9, on=ON)
    local, _ = _run(tmp_path, workers=1)
    distributed, summary = _run(tmp_path, backend="dask", workers=2, batch_patients=6)
    assert summary.backend == "dask"  # type: ignore[attr-defined]
    assert [r.model_dump() for r in distributed] == [r.model_dump() for r in local]


@pytest.mark.slow
def test_a_cluster_of_your_own_gets_the_lines_as_bytes_and_matches(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    generate_population(20, tmp_path / "export", seed=11, on=ON)
    local, _ = _run(tmp_path / "export", workers=1)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote, _ = _run(tmp_path / "export", backend="dask", scheduler=cluster.scheduler_address)
    assert [r.model_dump() for r in remote] == [r.model_dump() for r in local]
