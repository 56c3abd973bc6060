"""The app's own Settings decide how the work maps FHIR, wherever it runs: `fhir_validation` and
`site_timezone` travel with each task (a worker process has only its environment otherwise), not read
again in the worker."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api import work as api_work
from ldncds.api.app import create_app
from ldncds.cdshooks import drafts as hook_drafts
from ldncds.cdshooks import work as hook_work
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PATIENT_VIEW = ROOT / "tests" / "fixtures" / "http" / "patient_view_candidate.json"
ORDER_SIGN = ROOT / "tests" / "fixtures" / "http" / "order_sign_opioid_on_ldn.json"
BUNDLE = ROOT / "examples" / "cds-hooks" / "bundle-candidate.json"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    seen: list[Any] = []
    real = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs.get("validation"), kwargs.get("site_timezone")))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


@pytest.mark.parametrize(("mode", "zone"), [("full", "America/Chicago"), ("lean", "Pacific/Honolulu")])
def test_the_apps_fhir_settings_reach_every_mapping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, mode: str, zone: str
) -> None:
    monkeypatch.delenv("LDNCDS_FHIR_VALIDATION", raising=False)  # the process's own default is lean
    monkeypatch.delenv("LDNCDS_SITE_TIMEZONE", raising=False)  # and its own zone UTC
    hooks = _spy(monkeypatch, hook_work, "facts_from_resources")
    drafts = _spy(monkeypatch, hook_drafts, "facts_from_resources")
    bundles = _spy(monkeypatch, api_work, "facts_from_bundle")
    settings = Settings(fhir_validation=mode, site_timezone=zone)
    client = TestClient(create_app(settings, engine=engine, store=open_store("sqlite://")))

    for url, body, status in [
        ("/cds-services/ldn-candidacy", PATIENT_VIEW, 200),
        ("/cds-services/ldn-order-sign", ORDER_SIGN, 200),
        ("/api/v1/assessments", BUNDLE, 201),
    ]:
        assert client.post(url, json=json.loads(body.read_text())).status_code == status, url
    assert hooks == [(mode, zone)] * 2 and bundles == [(mode, zone)]
    assert drafts and set(drafts) == {(mode, zone)}  # the draft orders too


def test_a_task_carries_its_validation_mode_to_a_worker_process() -> None:
    task = hook_work.OrderTask(
        b"{}",
        Settings().today(),
        "https://cds",
        validation="full",
        site_timezone="Asia/Tokyo",
        fetch_first=True,
    )
    sent = pickle.loads(pickle.dumps(task))
    assert (sent.validation, sent.site_timezone) == ("full", "Asia/Tokyo")
    body = pickle.loads(pickle.dumps(api_work.BodyTask(b"{}", True, task.on, "full", "Asia/Tokyo")))
    assert (body.validation, body.site_timezone) == ("full", "Asia/Tokyo")
