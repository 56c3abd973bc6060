"""A qualifying diagnosis the service could not read still gets an answer (issue: "a record you
could not read is named in the answer, never dropped silently"). Its codes, where they are valid,
open the patient-view gate; the diagnosis itself stays unknown and the record is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

CANDIDATE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(), engine=Engine(), store=open_store("sqlite://")))


def _with_condition(change: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(CANDIDATE.read_text())
    condition = body["prefetch"]["conditions"]["entry"][0]["resource"]
    condition.update(copy.deepcopy(change))
    return body


def _cards(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/cds-services/ldn-candidacy", json=body)
    assert response.status_code == 200, response.text
    return list(response.json()["cards"])


@pytest.mark.parametrize(
    "broken",
    [
        {"onsetDateTime": "2021-02-30"},  # no such day: invalid FHIR
        {"modifierExtension": [{"url": "http://example.org/not-really", "valueBoolean": True}]},
    ],
)
def test_an_unreadable_fibromyalgia_record_gets_a_card_that_names_it(
    client: TestClient, broken: dict[str, Any]
) -> None:
    cards = _cards(client, _with_condition(broken))
    assert len(cards) == 1
    text = json.dumps(cards[0])
    assert "Condition/cond-fm" in text  # the record is named
    assert "Insufficient information" in cards[0]["summary"]  # never a candidate on an unread diagnosis
    assert "qualifying diagnosis" in cards[0]["summary"]


def test_an_unreadable_record_of_another_condition_opens_no_card(client: TestClient) -> None:
    hypertension = {
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
        "onsetDateTime": "2021-02-30",
    }
    assert _cards(client, _with_condition(hypertension)) == []


def test_an_unreadable_record_whose_code_is_also_invalid_opens_no_card(client: TestClient) -> None:
    assert _cards(client, _with_condition({"code": {"coding": "M79.7"}, "onsetDateTime": "2021-02-30"})) == []
