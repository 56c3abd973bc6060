"""The value-set importer, provenance validation, `valuesets diff`, and the code-system table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Source, ValueSetMeta
from ldncds.engine.codes import SYSTEM_TABLE, canonical_system
from ldncds.engine.loader import RulesetError, load_valuesets
from ldncds.engine.provenance import ImportRecipe
from ldncds.terminology.importer import ImportError_, Plan, import_sources, merge, read_pool, read_rows
from ldncds.terminology.readers import read_source

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "valuesets"
CURATED_META = """title: test set
default_source: curated
sources:
  - id: curated
    kind: curated
    title: hand-curated test rows
    file: codes.csv
"""


def _rules(tmp_path: Path, name: str | None = None, csv_text: str | None = None) -> Path:
    rules = tmp_path / "rules"
    (rules / "valuesets").mkdir(parents=True)
    if name:
        (rules / "valuesets" / f"{name}.csv").write_text(csv_text or "system,code,display,match,note\n")
        (rules / "valuesets" / f"{name}.meta.yaml").write_text(CURATED_META)
    return rules


# ------------------------------------------------------------------ code systems


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
        ("urn:oid:2.16.840.1.113883.6.88", "RxNorm"),
        ("2.16.840.1.113883.6.88", "RxNorm"),
        ("http://snomed.info/sct/", "SNOMED-CT"),
        ("urn:oid:2.16.840.1.113883.6.96", "SNOMED-CT"),
        ("urn:oid:2.16.840.1.113883.6.90", "ICD-10-CM"),
        ("http://terminology.hl7.org/CodeSystem/icd9cm", "ICD-9-CM"),
        ("urn:oid:2.16.840.1.113883.6.1", "LOINC"),
        ("urn:oid:2.16.840.1.113883.6.12", "CPT"),
        ("urn:oid:2.16.840.1.113883.6.285", "HCPCS"),
        ("http://hl7.org/fhir/sid/ndc", "NDC"),
        ("urn:oid:2.16.840.1.113883.6.69", "NDC"),
        ("http://hl7.org/fhir/v2/0078", "v2-0078"),
        ("http://terminology.hl7.org/CodeSystem/v2-0078", "v2-0078"),
        ("urn:oid:2.16.840.1.113883.5.83", "v3-ObservationInterpretation"),
        ("http://example.org/local", None),
        ("", None),
    ],
)
def test_code_systems_are_recognised_by_uri_oid_and_name(written: str, canonical: str | None) -> None:
    assert canonical_system(written) == canonical


def test_every_system_has_a_distinct_uri_and_oid() -> None:
    uris = [cs.uri for cs in SYSTEM_TABLE.values()]
    oids = [cs.oid for cs in SYSTEM_TABLE.values() if cs.oid]
    assert len(set(uris)) == len(uris) and len(set(oids)) == len(oids)
    assert {"RxNorm", "SNOMED-CT", "ICD-10-CM", "LOINC", "CPT", "HCPCS", "NDC"} <= set(SYSTEM_TABLE)


# ------------------------------------------------------------------ readers


def test_json_expansion_is_read_nested_with_its_oid_and_counted_not_trusted() -> None:
    (vs,) = read_source(FIX / "opioid-screens.json")
    assert vs.oid == "2.16.840.1.113883.3.9999.1" and vs.version == "2.0" and vs.date == "2025-05-25"
    assert [c.code for c in vs.codes] == ["19295-5", "79266-3", "19599-0", "L1"]  # abstract grouper skipped
    assert vs.notes == ["expansion.total says 5 but lists 4 codes (the list is used)"]


def test_xml_compose_with_blank_lines_and_tabs_is_read() -> None:
    (vs,) = read_source(FIX / "nsaid-class.xml")
    assert vs.title == "Test NSAID class (composite)" and vs.version == "US 1.1"
    assert [c.code for c in vs.codes] == ["7258"]
    assert vs.includes == ["http://example.org/fhir/ValueSet/test-ibuprofen"]


def test_bundle_gives_each_valueset_and_ignores_other_resources() -> None:
    assert [vs.title for vs in read_source(FIX / "bundle.json")] == ["A", "B"]


def test_ahrq_list_takes_its_oid_from_the_file_name() -> None:
    (vs,) = read_source(FIX / "2.16.840.1.113762.1.4.9999.42.json")
    assert vs.oid == "2.16.840.1.113762.1.4.9999.42" and vs.kind == "ahrq-valueset-db"
    assert vs.url == "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.9999.42"
    assert [c.code for c in vs.codes] == ["7242", "1191250"] and "2023-05" in (vs.version or "")


def test_unreadable_sources_are_skipped_with_a_reason() -> None:
    pool, skipped = read_pool([FIX / "intensional.json", FIX / "not-a-valueset.json", FIX / "products.csv"])
    reasons = {s.file.name: s.reason for s in skipped}
    assert "intensional filter" in reasons["intensional.json"]
    assert "not a ValueSet" in reasons["not-a-valueset.json"]
    assert "--system" in reasons["products.csv"]  # a CSV without a system column needs one
    assert pool == []


_SNOMED = "http://snomed.info/sct"
_NO_CODE, _SHAPE = "a compose concept without a code", "not a ValueSet this importer can read"


@pytest.mark.parametrize(
    ("compose", "reason"),
    [
        ({"include": [{"system": _SNOMED, "concept": [{"display": "no code"}]}]}, _NO_CODE),
        ({"include": ["http://snomed.info/sct"]}, _SHAPE),
        ({"include": [{"system": _SNOMED, "concept": [None]}]}, _SHAPE),
        ({"include": [{"system": _SNOMED, "concept": [{"code": ""}]}]}, _NO_CODE),
        ({"include": [{"system": _SNOMED, "concept": [{"code": 387713003}]}]}, _NO_CODE),
        ({"exclude": [{"system": None, "concept": [{"code": "1"}]}]}, "concepts without a system"),
    ],
)
def test_a_valueset_of_the_wrong_shape_is_skipped_with_its_file_named(
    tmp_path: Path, compose: dict, reason: str
) -> None:
    path = tmp_path / "malformed.json"
    path.write_text(json.dumps({"resourceType": "ValueSet", "url": "http://x/vs", "compose": compose}))
    pool, skipped = read_pool([path])
    assert pool == [] and [s.file.name for s in skipped] == ["malformed.json"]
    assert reason in skipped[0].reason


def test_a_single_referenced_valueset_is_one_reference(tmp_path: Path) -> None:
    path = tmp_path / "refers.json"
    include = {"valueSet": "http://x/other"}  # written as a string where FHIR has a list
    path.write_text(
        json.dumps({"resourceType": "ValueSet", "url": "http://x/vs", "compose": {"include": [include]}})
    )
    [vs] = read_source(path)
    assert vs.includes == ["http://x/other"]


# ------------------------------------------------------------------ import


def test_import_normalises_systems_filters_and_records_provenance(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    recipe = ImportRecipe(exclude_display=r"\bcutoff\b")
    diff, _ = import_sources([FIX / "opioid-screens.json"], "screens", rules, recipe, root=FIX)
    rows = read_rows(rules / "valuesets" / "screens.csv")
    assert [(r["system"], r["code"]) for r in rows] == [("LOINC", "19295-5"), ("LOINC", "79266-3")]
    assert {r["source"] for r in rows} == {"test-opioid-screens"}
    (plan,) = diff.plans
    assert plan.skipped_systems == {"http://example.org/local-codes": 1} and plan.filtered == 1
    sets = load_valuesets(rules)  # the loader accepts what the importer wrote
    (source,) = sets.meta["screens"].sources
    assert source.url == "http://example.org/fhir/ValueSet/test-opioid-screens"
    assert source.oid == "2.16.840.1.113883.3.9999.1" and source.date == "2025-05-25"
    assert source.file == "opioid-screens.json" and source.recipe and source.recipe.exclude_display
    assert sets.of_code("LOINC", "79266-3") == {"screens"}


def test_compose_valueset_references_resolve_within_the_sources_and_excludes_apply(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    import_sources([FIX / "nsaid-class.xml", FIX / "ibuprofen.xml"], "nsaids", rules)
    codes = [r["code"] for r in read_rows(rules / "valuesets" / "nsaids.csv")]
    assert codes == ["7258", "5640", "197807"]  # the topical gel was excluded by ibuprofen's compose


def test_a_reference_missing_from_the_sources_stops_the_import(tmp_path: Path) -> None:
    with pytest.raises(ImportError_, match="test-ibuprofen"):
        import_sources([FIX / "nsaid-class.xml"], "nsaids", _rules(tmp_path))


def test_csv_sources_take_a_system_and_a_where_filter(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    recipe = ImportRecipe(system="RxNorm", where={"value_set": "nsaids"})
    import_sources([FIX / "products.csv"], "nsaids", rules, recipe, source_id="products")
    assert [r["code"] for r in read_rows(rules / "valuesets" / "nsaids.csv")] == ["197807", "198014"]


@pytest.mark.parametrize("excluded", ["F11.20", "F1120", "f11.20"])
def test_an_excluded_code_is_left_out_however_the_source_spells_it(tmp_path: Path, excluded: str) -> None:
    rules = _rules(tmp_path)
    source = tmp_path / "oud.csv"
    source.write_text(
        'code,display\nF1120,"Opioid dependence, uncomplicated"\nF11.21,"Opioid dependence, in remission"\n'
    )
    recipe = ImportRecipe(system="ICD-10-CM", exclude_codes=[excluded])
    import_sources([source], "oud", rules, recipe, source_id="oud")
    assert [r["code"] for r in read_rows(rules / "valuesets" / "oud.csv")] == ["F11.21"]


def test_a_where_filter_on_a_published_valueset_or_an_empty_source_id_is_refused(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    where = ImportRecipe(where={"value_set": "x"})
    with pytest.raises(ImportError_, match=r"--where filters CSV columns.*opioid-screens.json"):
        import_sources([FIX / "opioid-screens.json"], "screens", rules, where)
    with pytest.raises(ImportError_, match="--source-id is empty"):
        import_sources([FIX / "opioid-screens.json"], "screens", rules, source_id=" ")


def test_curated_rows_are_never_dropped_and_stale_rows_only_with_prune(tmp_path: Path) -> None:
    curated = (
        "system,code,display,match,note\n"
        "LOINC,19295-5,Opiates screen,exact,curated note kept\n"
        "LOINC,3879-4,Opiates [Presence] in Urine,exact,only curated\n"
        "text,heroin,heroin,keyword,text name\n"
    )
    rules = _rules(tmp_path, "screens", curated)
    import_sources([FIX / "opioid-screens.json"], "screens", rules)
    rows = {r["code"]: r for r in read_rows(rules / "valuesets" / "screens.csv")}
    assert rows["19295-5"]["note"] == "curated note kept"
    assert rows["19295-5"]["source"] == "curated|test-opioid-screens"  # the row now has two sources
    assert rows["3879-4"]["source"] == "curated" and rows["heroin"]["source"] == "curated"
    # a new version of the source no longer lists two codes
    src = tmp_path / "src"
    src.mkdir()
    text = (
        (FIX / "opioid-screens.json")
        .read_text()
        .replace('"19295-5"', '"19296-3"')
        .replace('"79266-3"', '"00000-0"')
    )
    (src / "opioid-screens.json").write_text(text)
    diff, _ = import_sources([src / "opioid-screens.json"], "screens", rules, write=False)
    assert {r["code"] for r in diff.removed} == {"79266-3"} and not diff.pruned
    assert {r["code"] for r in diff.unlinked} == {"19295-5"}  # curated too: only the link would go
    import_sources([src / "opioid-screens.json"], "screens", rules, prune=True)
    rows = {r["code"]: r for r in read_rows(rules / "valuesets" / "screens.csv")}
    assert rows["19295-5"]["source"] == "curated"  # still curated: kept, only the source link removed
    assert "79266-3" not in rows and "3879-4" in rows and "heroin" in rows


# ------------------------------------------------------------------ provenance in the loader


def test_a_value_set_without_provenance_does_not_load(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "x")
    (rules / "valuesets" / "x.meta.yaml").unlink()
    with pytest.raises(RulesetError, match=r"valuesets/x.csv: no provenance"):
        load_valuesets(rules)


def test_a_row_naming_an_undeclared_source_does_not_load(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "x", "system,code,display,match,note,source\nLOINC,1-8,a,exact,,elsewhere\n")
    with pytest.raises(RulesetError, match="'elsewhere' is not declared"):
        load_valuesets(rules)


def test_a_source_that_cannot_be_located_does_not_load(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "x")
    (rules / "valuesets" / "x.meta.yaml").write_text(CURATED_META.replace("    file: codes.csv\n", ""))
    with pytest.raises(RulesetError, match="x.meta.yaml.*needs a url, an oid or a file"):
        load_valuesets(rules)


def test_provenance_without_its_value_set_does_not_load(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "x")
    (rules / "valuesets" / "y.meta.yaml").write_text(CURATED_META)
    with pytest.raises(RulesetError, match="y.meta.yaml: provenance of a value set that has no CSV"):
        load_valuesets(rules)


def test_every_value_set_of_the_project_names_its_sources() -> None:
    sets = load_valuesets(ROOT / "rules")
    for name in sets.names:
        assert sets.meta[name].sources, name
        for row in sets.rows[name]:
            assert row.source, (name, row)


# ------------------------------------------------------------------ commands


def _copy_project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "features", tmp_path / "features")
    return tmp_path / "rules"


def test_diff_names_rows_rules_and_scenarios_and_writes_nothing(tmp_path: Path) -> None:
    rules = _copy_project(tmp_path)
    before = (rules / "valuesets" / "opiate_urine_screen.csv").read_text()
    result = CliRunner().invoke(
        app,
        [
            "valuesets",
            "diff",
            str(FIX / "opioid-screens.json"),
            "--into",
            "opiate_urine_screen",
            "--rules",
            str(rules),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "opiate_urine_screen:" in result.output and "+ LOINC 19599-0" in result.output
    assert "skipped 1 codes of unknown system http://example.org/local-codes" in result.output
    assert "rules affected: CONTRA-SCREEN-01, CONTRA-SCREEN-02" in result.output
    assert "scenarios to re-run:" in result.output and "features/rules/" in result.output
    assert (rules / "valuesets" / "opiate_urine_screen.csv").read_text() == before


def test_import_command_then_refresh_shows_what_the_new_version_changes(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    src = tmp_path / "sources"
    src.mkdir()
    shutil.copy(FIX / "opioid-screens.json", src / "opioid-screens.json")
    runner = CliRunner()
    args = [
        "valuesets",
        "import",
        str(src / "opioid-screens.json"),
        "--into",
        "screens",
        "--rules",
        str(rules),
    ]
    result = runner.invoke(app, [*args, "--sources-root", str(src), "--exclude-display", "cutoff"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    refresh = ["valuesets", "diff", "--rules", str(rules), "--sources-root", str(src)]
    assert "0 of 1 imported value sets would change" in runner.invoke(app, refresh).output
    changed = (src / "opioid-screens.json").read_text().replace('"79266-3"', '"79267-1"')
    (src / "opioid-screens.json").write_text(changed)
    result = runner.invoke(app, refresh)
    assert result.exit_code == 0, result.output
    assert "+ LOINC 79267-1" in result.output and "- LOINC 79266-3" in result.output
    assert "19599-0" not in result.output  # the recorded recipe (exclude cutoff) is applied again
    assert "1 of 1 imported value sets would change" in result.output


def test_import_command_refuses_a_bad_name_and_writes_nothing(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "valuesets",
            "import",
            str(FIX / "opioid-screens.json"),
            "--into",
            "Bad Name",
            "--rules",
            str(rules),
        ],
    )
    assert result.exit_code == 2 and "nothing written" in result.output
    assert list((rules / "valuesets").iterdir()) == []


def test_the_rulebook_and_rules_docs_show_where_each_value_set_came_from(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["rules", "docs", str(tmp_path / "book"), "--rules", str(ROOT / "rules")]
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "book" / "index.html").read_text()
    section = html[html.index('id="valueset-opiate_urine_screen"') :]
    section = section[: section.index("</section>")]
    assert "Sources of its codes" in section and "Policy:" in section
    assert (
        'href="http://fhir.org/guides/cdc/opioid-cds/ValueSet/fentanyl-type-urine-drug-screening-tests"'
        in section
    )
    assert "cqframework/opioid-cds-r4@b29bdcb" in section and "dated 2023-05-25" in section
    assert '<td class="mono">curated|' in section  # each row names its source(s)


def test_a_source_with_only_unknown_systems_is_refused_naming_them(tmp_path: Path) -> None:
    local = tmp_path / "local.json"
    local.write_text(
        '{"resourceType": "ValueSet", "url": "http://example.org/v", "expansion": {"contains": '
        '[{"system": "http://nucc.org/provider-taxonomy", "code": "207RX0202X"}]}}'
    )
    with pytest.raises(ImportError_, match="skipped systems: http://nucc.org/provider-taxonomy"):
        import_sources([local], "x", _rules(tmp_path))
    with pytest.raises(ImportError_, match="intensional filter"):
        import_sources([FIX / "intensional.json"], "x", _rules(tmp_path / "b"))


def test_a_composite_value_set_is_refreshed_with_the_files_it_includes(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    import_sources([FIX / "nsaid-class.xml", FIX / "ibuprofen.xml"], "nsaids", rules, root=FIX)
    (source,) = load_valuesets(rules).meta["nsaids"].sources
    assert source.file == "nsaid-class.xml" and source.includes == ["ibuprofen.xml"]
    refresh = ["valuesets", "diff", "--rules", str(rules), "--sources-root", str(FIX)]
    result = CliRunner().invoke(app, refresh)
    assert result.exit_code == 0, result.output
    assert "0 of 1 imported value sets would change" in result.output


# ------------------------------------------------------------------ merging several sources


def _source(sid: str, file: str | None = None) -> Source:
    return Source(id=sid, kind="fhir-valueset", title=sid, url=f"http://x/{sid}", file=file)


def _row(code: str, source: str) -> dict[str, str]:
    return {"system": "RxNorm", "code": code, "display": code, "match": "exact", "note": "", "source": source}


def test_pruning_one_source_never_costs_a_code_another_source_lists() -> None:
    rows = [_row("1", "a"), _row("2", "b"), _row("3", "c")]
    meta = ValueSetMeta(title="t", sources=[_source(i) for i in "abc"])
    # Source a no longer lists code 1 (its row goes); source b now lists 1 and still lists 2.
    plans = [Plan(_source("a"), {}), Plan(_source("b"), {("RxNorm", "1"): "1", ("RxNorm", "2"): "2"})]
    out, _, diff = merge("t", rows, meta, plans, prune=True)
    assert sorted((r["code"], r["source"]) for r in out) == [("1", "b"), ("2", "b"), ("3", "c")]
    assert [r["code"] for r in diff.removed] == ["1"] and [r["code"] for r in diff.added] == ["1"]
    assert diff.unlinked == []  # code 3 was never source b's


def test_two_files_recorded_under_one_source_id_are_refused() -> None:
    plans = [
        Plan(_source("list", "x/list.csv"), {("RxNorm", "1"): "1"}),
        Plan(_source("list", "y/list.csv"), {("RxNorm", "2"): "2"}),
    ]
    with pytest.raises(ImportError_, match=r"x/list.csv and y/list.csv.*--source-id"):
        merge("t", [], None, plans)


def test_diff_limit_lists_that_many_rows_and_zero_lists_every_row(tmp_path: Path) -> None:
    from ldncds.terminology.importer import SetDiff
    from ldncds.terminology.report import format_diff

    rows = [{"system": "RxNorm", "code": str(n), "display": f"drug {n}"} for n in range(30)]
    diff = SetDiff("opioids", added=rows, before=0, after=30)
    two = format_diff(diff, None, None, limit=2)
    assert [line for line in two if line.startswith("  + ")][-1] == "  + ... and 28 more ({'RxNorm': 28})"
    every = format_diff(diff, None, None, limit=0)
    assert sum(line.startswith("  + RxNorm ") for line in every) == 30
    assert not any("more" in line for line in every)
    with pytest.raises(ValueError, match="limit"):
        format_diff(diff, None, None, limit=-1)
    # the command refuses a negative limit before reading anything, naming the option
    result = CliRunner().invoke(app, ["valuesets", "diff", "--limit", "-1", "--rules", str(_rules(tmp_path))])
    assert result.exit_code == 2 and "--limit" in result.output
