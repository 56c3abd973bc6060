"""Bulk exports as servers name and ship them: numbered and unnumbered files, gzip, manifest.json."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.screening import discover
from ldncds.screening.bulk import ManifestError
from support.screening import candidate, ndjson, screen, write_export


def _population(folder: Path) -> Path:
    """Three patients in the usual `Type.000.ndjson` layout: the reference for every other layout."""
    return write_export(folder, [candidate("p1"), candidate("p2"), candidate("p3")])


def _renamed(source: Path, target: Path, name: str, compress: bool = False) -> Path:
    """The same files under another naming pattern (`{type}` stands for the resource type)."""
    target.mkdir()
    for path in source.glob("*.000.ndjson"):
        dest = target / (name.format(type=path.name.split(".")[0]) + (".gz" if compress else ""))
        if compress:
            with path.open("rb") as src, gzip.open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            shutil.copy(path, dest)
    return target


@pytest.mark.parametrize(
    ("pattern", "compress"),
    [
        ("1.{type}.ndjson", False),  # SMART's bulk-data server
        ("{type}.ndjson", False),
        ("{type}.part-7.ndjson", False),
        ("{type}.000.ndjson", True),
        ("1.{type}.ndjson", True),
    ],
)
def test_every_common_naming_and_gzip_give_the_same_decisions(
    tmp_path: Path, pattern: str, compress: bool
) -> None:
    reference = ndjson(screen(_population(tmp_path / "ref"))[0])
    folder = _renamed(tmp_path / "ref", tmp_path / "other", pattern, compress)
    rows, bad, summary = screen(folder)
    assert bad == [] and summary.ignored_files == ()
    assert ndjson(rows) == reference
    assert {r.decision for r in rows} == {"candidate"}


def test_a_bad_line_in_a_gzip_file_is_named_by_the_file_as_delivered(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", [candidate("p1")], extra={"Condition": ["{broken"]})
    plain = folder / "Condition.000.ndjson"
    with gzip.open(folder / "Condition.000.ndjson.gz", "wb") as out:
        out.write(plain.read_bytes())
    plain.unlink()
    _, bad, _ = screen(folder)
    assert [(b.file, b.reason) for b in bad] == [("Condition.000.ndjson.gz", "invalid JSON")]


def test_decompressed_copies_are_removed(tmp_path: Path) -> None:
    folder = _renamed(_population(tmp_path / "ref"), tmp_path / "gz", "{type}.000.ndjson", compress=True)
    export = discover(folder)
    scratch = export.files[0].parent
    assert scratch != folder and scratch.is_dir()
    export.close()
    assert not scratch.exists()


def _manifest(folder: Path, outputs: list[tuple[str, str]]) -> None:
    manifest = {
        "transactionTime": "2026-03-01T00:00:00Z",
        "request": "https://fhir.example.org/Group/g1/$export",
        "requiresAccessToken": True,
        "output": [{"type": t, "url": f"https://files.example.org/job/42/{name}"} for t, name in outputs],
        "error": [{"type": "OperationOutcome", "url": "https://files.example.org/job/42/err.ndjson"}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_a_manifest_names_the_files_and_their_types(tmp_path: Path) -> None:
    reference = ndjson(screen(_population(tmp_path / "ref"))[0])
    folder = tmp_path / "m"
    folder.mkdir()
    outputs = []
    for i, path in enumerate(sorted((tmp_path / "ref").glob("*.ndjson"))):
        name = f"part{i}.ndjson"  # names that say nothing: the manifest gives the type
        shutil.copy(path, folder / name)
        outputs.append((path.name.split(".")[0], name))
    (folder / "err.ndjson").write_text("{}\n", encoding="utf-8")
    (folder / "Condition.999.ndjson").write_text("{}\n", encoding="utf-8")  # not in the manifest
    _manifest(folder, outputs)
    rows, bad, summary = screen(folder)
    assert bad == []
    assert ndjson(rows) == reference
    assert summary.ignored_files == ("Condition.999.ndjson", "err.ndjson")


def test_a_manifest_listing_a_missing_file_stops_the_run(tmp_path: Path) -> None:
    folder = _population(tmp_path / "m")
    (folder / "MedicationRequest.000.ndjson").rename(folder / "elsewhere.txt")
    _manifest(
        folder, [("Patient", "Patient.000.ndjson"), ("MedicationRequest", "MedicationRequest.000.ndjson")]
    )
    with pytest.raises(ManifestError, match=r"MedicationRequest\.000\.ndjson"):
        discover(folder)
    result = CliRunner().invoke(app, ["screen", str(folder), "--date", "2026-03-01"])
    assert result.exit_code == 2
    assert "MedicationRequest.000.ndjson" in result.output


@pytest.mark.parametrize("text", ["not json", '{"output": [{"type": "Patient"}]}', '{"output": 3}'])
def test_an_unreadable_manifest_is_an_error_not_a_fallback(tmp_path: Path, text: str) -> None:
    folder = _population(tmp_path / "m")
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match="not a bulk-data manifest"):
        discover(folder)


def test_a_manifest_url_cannot_reach_outside_the_folder(tmp_path: Path) -> None:
    folder = _population(tmp_path / "m")
    (tmp_path / "secret.ndjson").write_text("{}\n", encoding="utf-8")
    _manifest(folder, [("Patient", "../secret.ndjson")])
    with pytest.raises(ManifestError, match="secret.ndjson"):  # looked for inside the folder only
        discover(folder)
