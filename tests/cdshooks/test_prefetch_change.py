"""What the server fetched travels to the engine worker as a change to the request's own prefetch
(`Gathered.change_to`), and the worker rebuilds exactly what the server gathered (`Gathered.over`)."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import httpx

from ldncds.cdshooks.fetch import FetchLimits, FhirFetcher, gather
from ldncds.cdshooks.prefetch import PREFETCH_KEYS, Gathered
from ldncds.fhir import MISSING

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"
FHIR = "https://ehr.example.org/fhir/r4"
FAILED = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}


def ehr(request: httpx.Request) -> httpx.Response:
    kind = request.url.path.rsplit("/", 1)[1]
    if kind in ("Observation", "Condition"):
        return httpx.Response(500)  # fetched and failed: MISSING
    entry = [{"resource": {"resourceType": kind, "id": f"{kind.lower()}-1"}}]
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entry})


async def gathered_by_the_server(prefetch: dict[str, Any]) -> Gathered:
    async with httpx.AsyncClient(transport=httpx.MockTransport(ehr)) as client:
        fetcher = FhirFetcher(client, FHIR, "t", FetchLimits())
        return await gather(prefetch, {"patientId": "pt-1001"}, fetcher)


def test_the_worker_rebuilds_what_the_server_gathered() -> None:
    request = json.loads(FIXTURE.read_text())
    prefetch = request["prefetch"]
    del prefetch["procedures"]  # fetched
    prefetch["conditions"] = FAILED  # failed at the EHR: fetched again, and that fails: MISSING
    prefetch.pop("observations", None)  # fetched, and the fetch fails
    server = asyncio.run(gathered_by_the_server(prefetch))
    assert server.values["conditions"] is MISSING and server.values["observations"] is MISSING
    assert "procedures" in server.fetched

    change = pickle.loads(pickle.dumps(server.change_to(prefetch)))  # as it reaches the worker
    worker = Gathered.over(json.loads(json.dumps(prefetch)), change)  # the worker parses the raw request
    assert worker.values == server.values and worker.fetched == server.fetched
    assert worker.values["observations"] is MISSING  # the sentinel survives the trip
    assert set(change.values) == {
        k for k in server.values if server.values[k] is not prefetch.get(k, MISSING)
    }
    assert "medications" not in change.values  # what the request carries is not sent again


def test_without_a_fetch_the_prefetch_alone_is_what_gather_takes() -> None:
    prefetch = json.loads(FIXTURE.read_text())["prefetch"]
    expected = asyncio.run(gather(prefetch, {}, None))
    rebuilt = Gathered.over(prefetch)
    assert rebuilt.values == expected.values and rebuilt.fetched == expected.fetched == []
    assert set(rebuilt.values) == {k.key for k in PREFETCH_KEYS}
