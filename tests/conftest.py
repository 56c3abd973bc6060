"""Shared test set-up: every test writes its audit store under a temporary data directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path_factory.mktemp("ldncds-data")
    monkeypatch.setenv("LDNCDS_DATA_DIR", str(data))
    monkeypatch.delenv("LDNCDS_DATABASE_URL", raising=False)
    return data
