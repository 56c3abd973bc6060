"""Screening on a (small, local) Dask cluster gives exactly the single-process result."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ldncds.screening import ScreeningRow, ScreenOptions, generate_population, screen_export
from ldncds.screening.dask_runner import RulesBundle, engine_from_bundle
from ldncds.screening.patient import engine_for

ON = date(2026, 3, 1)


def _run(folder: Path, **options: object) -> tuple[list[ScreeningRow], object]:
    rows: list[ScreeningRow] = []
    bad: list[object] = []
    summary = screen_export(folder, ScreenOptions(evaluation_date=ON, **options), rows.append, bad.append)
    assert bad == []
    return rows, summary


def test_rules_bundle_rebuilds_an_engine_with_the_same_ruleset_version() -> None:
    rules = Path(__file__).resolve().parents[2] / "rules"
    engine = engine_from_bundle(RulesBundle.of(rules), "durable")
    assert engine.version == engine_for(rules).version


@pytest.mark.slow
def test_dask_local_cluster_matches_single_process(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    generate_population(40, tmp_path, seed=9, on=ON)
    local, _ = _run(tmp_path, workers=1)
    distributed, summary = _run(tmp_path, backend="dask", workers=2, batch_patients=6)
    assert summary.backend == "dask"  # type: ignore[attr-defined]
    assert [r.model_dump() for r in distributed] == [r.model_dump() for r in local]
