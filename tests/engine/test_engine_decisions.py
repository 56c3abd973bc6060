"""Every decision path from the examples, with complete explanations, and engine fail-safes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, EngineError, PatientFacts, matching
from ldncds.engine.matching import DurableMatcher

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 3, 1)
EXPECTED = {
    "candidate.json": ("candidate", None),
    "candidate_with_cautions_thyroid.json": ("candidate_with_cautions", None),
    "candidate_with_cautions_ckd_elderly.json": ("candidate_with_cautions", None),
    "contraindicated_tramadol_washout.json": ("contraindicated", date(2026, 3, 3)),
    "contraindicated_codeine_cough.json": ("contraindicated", date(2026, 3, 7)),
    "contraindicated_buprenorphine.json": ("contraindicated", None),
    "contraindicated_text_only_percocet.json": ("contraindicated", None),
    "insufficient_information_esi.json": ("insufficient_information", None),
    "not_candidate_axial_back_pain.json": ("not_candidate", None),
    "on_therapy.json": ("on_therapy", None),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "rules")


def _facts(name: str) -> PatientFacts:
    return PatientFacts.model_validate_json((ROOT / "examples" / name).read_text())


def test_every_example_is_listed() -> None:
    assert {p.name for p in (ROOT / "examples").glob("*.json")} == set(EXPECTED)
    assert {d for d, _ in EXPECTED.values()} == {
        "candidate",
        "candidate_with_cautions",
        "contraindicated",
        "insufficient_information",
        "not_candidate",
        "on_therapy",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_decision_and_explanations(engine: Engine, name: str) -> None:
    decision, earliest = EXPECTED[name]
    a = engine.assess(_facts(name), ON)
    assert a.decision == decision, a.reason
    assert a.earliest_start == earliest
    assert a.ruleset_version == engine.version and a.reason.lower().startswith(decision.split("_")[0][:6])
    # Every part carries an explanation a clinician can check: rule, statement, facts with sources, evidence.
    explained = [a.explanation]
    explained += [e for c in a.criteria for e in c.explanations]
    explained += [e for h in a.hard_stops for e in h.explanations]
    explained += [e for c in a.cautions for e in c.explanations]
    explained += [r.explanation for r in a.reminders] + ([a.plan.explanation] if a.plan else [])
    for e in explained:
        assert e.rule_id in engine.ruleset.rules and e.rule_version and e.statement and e.rationale
        assert e.evidence and all(ev.pmid or ev.doi or ev.url for ev in e.evidence)
    for e in explained[1:]:
        assert all(f.source for f in e.facts)
    if decision not in ("candidate", "on_therapy"):  # on_therapy is follow-up, not a refusal
        assert a.counterfactuals, "a non-candidate must say what would change the decision"
    if decision.startswith("candidate"):
        assert a.plan and a.plan.steps[0].dose_mg == 1.5 and a.plan.target_mg == 4.5 and not a.plan.flagged
        assert {r.id for r in a.reminders} >= {
            "baseline_measures",
            "week_1_2_check",
            "week_4_6_visit",
            "week_12_response",
            "month_6_review",
            "month_12_review",
        }
    elif decision == "on_therapy":  # follow-up: no new plan, the monitoring schedule with its states
        assert a.plan is None and a.therapy and a.reminders
    else:
        assert a.plan is None and not a.reminders


def test_hard_stop_names_the_medication_and_its_source(engine: Engine) -> None:
    a = engine.assess(_facts("contraindicated_tramadol_washout.json"), ON)
    stop = a.hard_stops[0]
    assert stop.culprit.source == "MedicationRequest/tramadol-1" and "tramadol" in stop.culprit.display
    assert any("2026-03-03" in c for c in a.counterfactuals)


def test_buprenorphine_is_never_given_an_earliest_start(engine: Engine) -> None:
    a = engine.assess(_facts("contraindicated_buprenorphine.json"), ON)
    assert {h.id for h in a.hard_stops} >= {"opioid_maintenance", "current_opioid_agonist"}
    assert a.earliest_start is None


def test_insufficient_information_lists_what_is_missing_and_where(engine: Engine) -> None:
    a = engine.assess(_facts("insufficient_information_esi.json"), ON)
    assert [m.criterion for m in a.missing] == ["failed_epidural_steroid_injection"]
    assert "CPT" in a.missing[0].what and "labour" in a.missing[0].what


def test_thyroid_caution_brings_its_own_reminder(engine: Engine) -> None:
    a = engine.assess(_facts("candidate_with_cautions_thyroid.json"), ON)
    tsh = next(r for r in a.reminders if r.id == "tsh_week_4_6")
    assert (tsh.due_from, tsh.due_by) == (date(2026, 3, 29), date(2026, 4, 12))


def test_plan_above_six_mg_is_flagged(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    dosing = tmp_path / "rules" / "dosing.yaml"
    dosing.write_text(dosing.read_text().replace("- dose_mg: 4.5", "- dose_mg: 7.5"))
    a = Engine(tmp_path / "rules").assess(_facts("candidate.json"), ON)
    assert a.plan and a.plan.flagged and a.plan.steps[-1].above_flag


def test_assessment_is_deterministic_and_oracle_agrees(engine: Engine) -> None:
    oracle = Engine(ROOT / "rules", matcher="oracle")
    for name in EXPECTED:
        assert (
            engine.assess(_facts(name), ON)
            == engine.assess(_facts(name), ON)
            == oracle.assess(_facts(name), ON)
        )


def test_an_action_error_fails_closed(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(matching, "Firing", broken)
    with pytest.raises(EngineError):
        engine.assess(_facts("candidate.json"), ON)


def test_unmatched_facts_and_many_sessions_are_safe(engine: Engine) -> None:
    matcher = engine.matcher
    assert isinstance(matcher, DurableMatcher)
    # A fact no rule matches (only the catch-all sink), alone in its batch.
    lone = [{"kind": "record", "id": "r1", "section": "imaging", "available": True, "complete": True}]
    for _ in range(1200):  # more than durable_rules' 1,024 live sessions: proves sessions are deleted
        assert matcher.run("findings", lone) == []
    # A fact in no value set is not sent to the engine at all (no rule could match it).
    uncoded = {"kind": "observation", "id": "o1", "value_sets": [], "usable": True}
    assert matcher.run("findings", [uncoded]) == []


def test_cli_assess_prints_each_decision() -> None:
    runner = CliRunner()
    for name, (decision, _) in EXPECTED.items():
        out = runner.invoke(
            app,
            [
                "assess",
                str(ROOT / "examples" / name),
                "--date",
                "2026-03-01",
                "--json",
                "--rules",
                str(ROOT / "rules"),
            ],
        )
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["decision"] == decision
    text = runner.invoke(
        app,
        [
            "assess",
            str(ROOT / "examples" / "contraindicated_tramadol_washout.json"),
            "--date",
            "2026-03-01",
            "--rules",
            str(ROOT / "rules"),
        ],
    )
    assert "CONTRADICATED" not in text.output and "CONTRAINDICATED" in text.output
    assert "MedicationRequest/tramadol-1" in text.output and "2026-03-03" in text.output


def test_cli_rejects_bad_facts_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"birth_date": "1970-13-01", "conditions": []}))
    out = CliRunner().invoke(app, ["assess", str(bad), "--date", "2026-03-01"])
    assert out.exit_code == 2 and "birth_date" in out.output


def test_cli_assess_records_the_assessment_in_the_audit_store(_isolated_data_dir: Path) -> None:
    from ldncds.settings import Settings
    from ldncds.store import open_store

    out = CliRunner().invoke(
        app,
        [
            "assess",
            str(ROOT / "examples" / "candidate.json"),
            "--date",
            "2026-03-01",
            "--json",
            "--rules",
            str(ROOT / "rules"),
        ],
    )
    assert out.exit_code == 0, out.output
    assessment_id = json.loads(out.output)["assessment_id"]
    stored = open_store(Settings().effective_database_url).get(assessment_id)
    assert stored is not None and stored.decision == "candidate" and stored.caller.channel == "cli"
