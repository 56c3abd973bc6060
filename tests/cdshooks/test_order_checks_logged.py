"""An order check is an assessment like any other: rule ids on the card, a record in the decision
log (before the answer), listed by `ldncds audit list` and verified in the hash chain."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ldncds.api.app import create_app
from ldncds.cli import app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
BASE = "https://cds.example.org"
runner = CliRunner()


def test_an_opioid_order_sign_check_is_logged_and_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    store = open_store(url)
    client = TestClient(create_app(Settings(public_base_url=BASE), engine=Engine(), store=store))
    body = json.loads((FIXTURES / "order_sign_opioid_on_ldn.json").read_text())
    response = client.post("/cds-services/ldn-order-sign", json=body)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "critical"
    assert card["source"]["url"] == f"{BASE}/rulebook#rule-ORDER-OPIOID-ON-NTX-01"  # a rule, not the root
    stored = store.get(card["uuid"])
    assert stored is not None and stored.caller.service_id == "ldn-order-sign"
    assert "ORDER-OPIOID-ON-NTX-01" in stored.assessment["rules_fired"]
    assert stored.assessment["decision"] == "contraindicated"
    store.close()

    listed = runner.invoke(app, ["audit", "list", "--database-url", url], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert card["uuid"][:8] in listed.output and "contraindicated" in listed.output
    verified = runner.invoke(app, ["audit", "verify", "--database-url", url])
    assert verified.exit_code == 0 and "intact: 1 records" in verified.output
