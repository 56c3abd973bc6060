"""Every `curl` line of examples/cds-hooks/README.md, run with bash against a live `ldncds serve`.

The server is the real command (uvicorn, engine worker process, SQLite decision log in a temporary
data folder) on a free loopback port; each line's answer is checked against what the README says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "cds-hooks"
README = EXAMPLES / "README.md"

# What each example must give: (decision, card indicator) for CDS Hooks, decision for the JSON API.
PATIENT_VIEW = {
    "patient-view-candidate.json": ("candidate", "info"),
    "patient-view-cautions-thyroid.json": ("candidate_with_cautions", "warning"),
    "patient-view-contraindicated-tramadol.json": ("contraindicated", "warning"),
    "patient-view-insufficient-no-pt.json": ("insufficient_information", "info"),
    "patient-view-not-candidate-minor.json": ("not_candidate", "info"),
    "patient-view-on-therapy.json": ("on_therapy", "warning"),
}
BUNDLES = {
    "bundle-candidate.json": "candidate",
    "bundle-contraindicated-tramadol.json": "contraindicated",
    "bundle-on-therapy.json": "on_therapy",
    "bundle-real-chart.json": "contraindicated",
}

pytestmark = pytest.mark.slow


def curl_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}
    env |= {"LDNCDS_DATA_DIR": str(tmp_path_factory.mktemp("serve")), "LDNCDS_RULES_DIR": str(ROOT / "rules")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-c", "from ldncds.cli import app; app()", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--engine-processes", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # a bound on start-up (worker warm-up), not a timing assertion
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"ldncds serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                time.sleep(0.25)
        else:
            pytest.fail("ldncds serve did not become ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def run(line: str, base: str) -> str:
    result = subprocess.run(
        ["bash", "-c", line], cwd=EXAMPLES, env=os.environ | {"LDNCDS": base}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, f"{line}\n{result.stderr}"
    return result.stdout


def stored_decision(base: str, assessment_id: str) -> str:
    with urllib.request.urlopen(f"{base}/api/v1/assessments/{assessment_id}", timeout=10) as response:
        return json.load(response)["decision"]


def check(line: str, out: str, base: str) -> None:
    """The answer this line must give, by what it posts."""
    posted = re.search(r"-d @(\S+)", line)
    name = posted.group(1) if posted else None
    if name is None:
        assert [s["id"] for s in json.loads(out)["services"]] == [
            "ldn-candidacy", "ldn-order-select", "ldn-order-sign"
        ]  # fmt: skip
        return
    assert (EXAMPLES / name).is_file(), f"{name} is not in examples/cds-hooks"
    if " -i " in line:  # headers shown: the request id is echoed
        head, _, body = out.replace("\r\n", "\n").partition("\n\n")
        assert re.search(r"^x-request-id: ehr-trace-0001$", head, re.I | re.M), head
        out = body
    answer: dict[str, Any] = json.loads(out)
    if name in BUNDLES:
        assert answer["decision"] == BUNDLES[name], answer.get("reason")
        return
    [card] = answer["cards"]
    if name in PATIENT_VIEW:
        decision, indicator = PATIENT_VIEW[name]
        assert card["indicator"] == indicator
        assert stored_decision(base, card["uuid"]) == decision  # the card's assessment, from the log
    elif name == "order-select-naltrexone-on-tramadol.json":
        assert card["indicator"] == "critical" and "tramadol" in card["summary"].lower()
        assert stored_decision(base, card["uuid"]) == "contraindicated"
    elif name == "order-sign-opioid-on-ldn.json":
        assert card["indicator"] == "critical" and "oxycodone" in card["summary"].lower()
    else:
        pytest.fail(f"no expected answer for {name}: add it to this test")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_curl_line_of_the_readme_gives_the_documented_answer(server: str) -> None:
    lines = curl_lines()
    assert len(lines) >= 13
    posted = {m.group(1) for line in lines if (m := re.search(r"-d @(\S+)", line))}
    assert posted == set(PATIENT_VIEW) | set(BUNDLES) | {
        "order-select-naltrexone-on-tramadol.json", "order-sign-opioid-on-ldn.json"
    }, "every example file is used by a line"  # fmt: skip
    for line in lines:
        check(line, run(line, server), server)


def test_every_example_file_is_documented() -> None:
    text = README.read_text()
    assert [p.name for p in EXAMPLES.glob("*.json") if p.name not in text] == []
